"""The Celery worker: renders queued derivatives, batch reprocessing and purges.

Started with ``celery -A worker worker -Q derivatives,batch``.
"""
