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

# Dependencies first, at the versions of requirements.lock (the tests' and the Lambda zip's too),
# from the project's metadata alone, so code changes do not reinstall them. Both images install the
# same layer (metrics, Flower and SQS included), so the second builds from the first one's cache.
COPY pyproject.toml README.md requirements.lock ./
RUN mkdir core edge worker cli purger \
    && pip install --constraint requirements.lock ".[metrics,flower,sqs,viewer]" \
    && pip uninstall --yes tachyon-edge \
    && rmdir core edge worker cli purger

COPY core core
COPY edge edge
COPY worker worker
COPY cli cli
COPY purger purger
# sqs: kombu's SQS transport (boto3, pycurl) for the SQS-native deployment.
RUN pip install --no-deps --constraint requirements.lock ".[metrics,sqs]" \
    && pip check

RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent tachyon
USER 10001

# Configuration comes from TACHYON_* variables (see docs/configuration.md).
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
    CMD ["tachyon-edge", "worker-health"]

# The Celery worker under a supervisor that restarts it if it exits on its own (docs/worker.md, "Faults").
CMD ["tachyon-edge", "worker", "-Q", "derivatives,batch", "--loglevel=INFO"]
