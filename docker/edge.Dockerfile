# The local CloudFront with the edge functions (origin-request/origin-response), for compose:
# `tachyon-edge dev` pointed at real services through TACHYON_S3_ENDPOINT, TACHYON_BUCKET and
# TACHYON_BROKER_URL (nothing embedded then). In AWS the same code runs as Lambda@Edge instead.
# Build from the repository root:
#   docker build -f docker/edge.Dockerfile -t tachyon-edge-edge .
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
    && pip install --constraint requirements.lock ".[metrics,flower,sqs]" \
    && pip uninstall --yes tachyon-edge \
    && rmdir core edge worker cli purger

COPY core core
COPY edge edge
COPY worker worker
COPY cli cli
RUN pip install --no-deps --constraint requirements.lock . \
    && pip check

RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent tachyon
USER 10001

EXPOSE 8080
# The local CloudFront answers this path itself, without S3 or the edge functions.
HEALTHCHECK --interval=15s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/_tachyon/health', timeout=3)"]

CMD ["tachyon-edge", "dev", "--host", "0.0.0.0", "--port", "8080"]
