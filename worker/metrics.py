"""Optional Prometheus metrics of the worker, served on ``Settings.metrics_port``.

Off unless ``TACHYON_METRICS_PORT`` is set and ``prometheus-client`` is
installed (``tachyon-edge[metrics]``). Renders run in forked pool processes, so
the metrics use prometheus_client's multiprocess mode: the main process picks a
directory before the pool forks (``worker_init``), every pool process writes
its samples there, and the main process serves their sum (``worker_ready``).

- ``tachyon_render_seconds``: histogram of render time per derivative (pixels → bytes, no S3);
- ``tachyon_render_outcomes_total{outcome}``: rendered, fresh, failed, skipped;
- ``tachyon_derivative_bytes_total``: bytes of derivatives written.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from celery.signals import worker_init, worker_process_shutdown, worker_ready

log = logging.getLogger("tachyon.worker")
#: This process's metric objects ("ready" marks them created; empty when off).
_metrics: dict[str, Any] = {}


def _port() -> int | None:
    from worker.app import current_settings

    return current_settings().metrics_port


def _get() -> dict[str, Any]:
    """This process's metric objects, created on first use (after the fork)."""
    if "ready" not in _metrics:
        _metrics["ready"] = True
        if _port() is None:
            return {}
        try:
            from prometheus_client import Counter, Histogram, values
        except ImportError:
            return {}
        # prometheus_client picks its value store when first imported, and the celery
        # command may import it before ``worker_init`` names the directory (Flower's
        # command plugin does): pick again, now that the directory is set.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        _metrics.update(
            {
                "seconds": Histogram(
                    "tachyon_render_seconds",
                    "Render time of one derivative (decode, transform, encode), seconds",
                    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
                ),
                "outcomes": Counter("tachyon_render_outcomes", "Derivative jobs by outcome", ["outcome"]),
                "bytes": Counter("tachyon_derivative_bytes", "Bytes of derivatives written to S3"),
            }
        )
    return _metrics if "outcomes" in _metrics else {}


def outcome(name: str, written: int = 0) -> None:
    """Count one derivative job's outcome (and the bytes it wrote)."""
    metrics = _get()
    if metrics:
        metrics["outcomes"].labels(outcome=name).inc()
        if written:
            metrics["bytes"].inc(written)


def render_seconds(seconds: float, count: int) -> None:
    """Record a render of ``count`` derivatives that took ``seconds`` in all."""
    metrics = _get()
    if metrics and count:
        for _ in range(count):
            metrics["seconds"].observe(seconds / count)


@worker_init.connect  # type: ignore[untyped-decorator]
def _choose_directory(**_: Any) -> None:
    """Before the pool forks: where pool processes write their samples."""
    if _port() is not None and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tachyon-metrics-")


@worker_ready.connect  # type: ignore[untyped-decorator]
def _serve(**_: Any) -> None:
    """In the main process: serve the sum of every pool process's samples."""
    port = _port()
    if port is None:
        return
    try:
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server
    except ImportError:
        log.warning("metrics_port is set but prometheus-client is not installed: no metrics")
        return
    registry = CollectorRegistry()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:  # pragma: no cover - the in-process worker shares this process's registry
        from prometheus_client import REGISTRY

        registry = REGISTRY
    start_http_server(port, registry=registry)
    log.info("Prometheus metrics on port %d", port)


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _process_gone(pid: int | None = None, **_: Any) -> None:
    """Drop a recycled pool process's live gauges (counters and histograms are kept)."""
    if _port() is not None and "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        try:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
        except ImportError:
            pass
