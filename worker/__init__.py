"""The Celery worker: renders queued derivatives, batch reprocessing and purges.

Started with ``celery -A worker worker -Q derivatives,batch``: Celery finds the
app as ``worker.app`` (``worker.celery`` is the same object).
"""

from worker import batch, metrics, purge, tasks  # registers the tasks with the app
from worker.app import app, configure, current_settings, start_in_process_worker

celery = app

__all__ = [
    "app",
    "batch",
    "celery",
    "configure",
    "current_settings",
    "metrics",
    "purge",
    "start_in_process_worker",
    "tasks",
]
