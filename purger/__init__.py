"""The purge function: originals changed in S3 → their derivatives deleted, their CDN copies invalidated.

A regular AWS Lambda (not Lambda@Edge) fed by the bucket's event
notifications through an SQS queue: ``purger.handler.handler``. It needs only
``core`` and botocore, never the worker or Celery, so it serves a Redis
deployment as well as an SQS one. docs/deploy.md, "Originals' changes".
"""
