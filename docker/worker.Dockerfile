# The render worker: `celery -A worker worker -Q derivatives,batch`, plus Flower for the
# compose profile. Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t tachyon-edge-worker .
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Dependencies first (pinned by the lock), so code changes do not reinstall them.
COPY docker/constraints.txt docker/constraints.txt
RUN pip install --requirement docker/constraints.txt

COPY pyproject.toml README.md ./
COPY core core
COPY edge edge
COPY worker worker
COPY cli cli
COPY purger purger
# sqs: kombu's SQS transport (boto3, pycurl) for the SQS-native deployment.
RUN pip install --no-deps --constraint docker/constraints.txt ".[metrics,sqs]" \
    && pip check

RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent tachyon
USER tachyon

# Configuration comes from TACHYON_* variables (see docs/configuration.md).
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
    CMD ["tachyon-edge", "worker-health"]

CMD ["celery", "-A", "worker", "worker", "-Q", "derivatives,batch", "--loglevel=INFO"]
