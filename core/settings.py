"""One typed configuration object for the edge, the worker and the CLI.

Sources, later wins: built-in defaults < a TOML file < ``TACHYON_*``
environment variables < values passed in code (command-line flags).

The TOML file is ``$TACHYON_CONFIG`` when set, else ``tachyon.toml`` bundled
inside the ``core`` package — Lambda@Edge has no environment variables, so
``tachyon-edge build-lambda --config FILE`` places the file there.
Every field is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.errors import InvalidArgument
from core.jobs import QUEUES
from core.limits import Limits
from core.types import Freshness, SizeOutside, SizePolicyMode

BUNDLED_CONFIG = Path(__file__).with_name("tachyon.toml")


def config_file() -> Path | None:
    """The TOML file in force: ``$TACHYON_CONFIG``, else the bundled one if present."""
    named = os.environ.get("TACHYON_CONFIG")
    if named:
        return Path(named)
    return BUNDLED_CONFIG if BUNDLED_CONFIG.is_file() else None


class Settings(BaseSettings, Limits):
    """Everything configurable, with the defaults a fresh install runs on.

    The guard limits are inherited from ``Limits`` (declared there, once).
    """

    model_config = SettingsConfigDict(env_prefix="TACHYON_", extra="ignore", frozen=True)

    # Where things are
    bucket: str | None = Field(
        None, description="S3 bucket of originals; else read from the event's origin.s3.domainName"
    )
    s3_endpoint: str | None = Field(None, description="S3 endpoint URL (MinIO, moto); None means AWS")
    region: str = Field("us-east-1", description="AWS region of the bucket")
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Celery broker URL (redis://, rediss://, sqs://)"
    )
    lock_url: str | None = Field(
        None, description="Redis URL for pending-job keys; default: the broker when it is Redis"
    )
    derivative_prefix: str = Field("_derivatives/", description="key prefix under which all derivatives live")

    # AWS-native queue, job records and CDN (docs/deploy.md; names in docs/configuration.md)
    queue_region: str | None = Field(
        None, description="region of the SQS queues and the job table; default: region"
    )
    queue_urls: dict[str, str] = Field(
        default_factory=dict,
        description="SQS queue URL per queue name (derivatives, batch); missing ones are "
        "resolved with GetQueueUrl from queue_prefix + name, never created",
    )
    queue_prefix: str = Field("tachyon-", description="prefix of the SQS queue names (tachyon-derivatives)")
    job_table: str | None = Field(
        None,
        description="DynamoDB table for pending/failed job records and batch progress, "
        "when no Redis is configured (lock_url)",
    )
    cloudfront_distribution_id: str | None = Field(
        None, description="CloudFront distribution whose cached derivatives a purge invalidates"
    )
    cloudfront_origin_path: str = Field(
        "", description="the distribution's origin path (/media): keys outside it are not invalidated"
    )
    invalidation_wildcards: int = Field(
        10,
        ge=1,
        le=15,
        description="most wildcard paths one invalidation uses (CloudFront allows 15 at once)",
    )

    # Edge policy
    sync_max_bytes: int = Field(
        10_000_000, ge=0, description="largest original rendered at the edge, in bytes"
    )
    sync_max_pixels: int = Field(
        16_000_000, ge=0, description="largest decode (after JPEG DCT scaling) rendered at the edge"
    )
    fallback_ttl: int = Field(
        10, ge=0, description="Cache-Control max-age of an original served as fallback, seconds"
    )
    error_ttl: int = Field(
        10, ge=0, description="Cache-Control max-age of a 400 for invalid arguments, seconds"
    )
    pending_ttl: int = Field(
        300,
        ge=1,
        description="how long one enqueued job blocks re-enqueueing the same derivative, seconds",
    )
    failure_ttl: int = Field(
        3600, ge=1, description="how long a failed derivative is not enqueued again, seconds"
    )
    auto_format: bool = Field(
        False,
        description="choose AVIF/WebP from the Accept header (needs Accept normalised into the cache key)",
    )
    signing_keys: list[str] = Field(
        default_factory=list,
        description="keys of signed URLs (docs/security.md): when any is set, a request for a "
        "derivative needs a valid s= signature; the first key signs, every one verifies",
    )
    size_policy: SizePolicyMode = Field(
        "off",
        description="which derivatives a URL may ask for: 'off', 'presets' (only the named presets) "
        "or 'allowed' (sizes in allowed_sizes or multiples of size_step); docs/security.md",
    )
    presets: dict[str, str] = Field(
        default_factory=dict, description="named presets: name → query string (resize=150,150)"
    )
    allowed_sizes: list[int] = Field(
        default_factory=list, description="sizes (px, either side, after zoom) served in 'allowed' mode"
    )
    size_step: int | None = Field(None, ge=1, description="'allowed' mode also serves multiples of this")
    size_outside: SizeOutside = Field(
        "redirect",
        description="'allowed' mode, a size outside: 'refuse' (400), 'redirect' (302 to the nearest "
        "allowed sizes) or 'snap' (the nearest, served under the URL asked)",
    )
    max_derivatives_per_original: int = Field(
        1000,
        ge=0,
        description="budget: distinct derivatives one original may have (counted in Redis or the "
        "job table); beyond it the original is served as a fallback; 0 turns it off",
    )
    max_pending_jobs: int = Field(
        10_000,
        ge=0,
        description="budget: jobs waiting on the live queue beyond which a miss serves the original "
        "and enqueues nothing; 0 turns it off",
    )
    budget_window: int = Field(
        30 * 86400, ge=1, description="seconds a derivative count is kept after its last new derivative"
    )
    viewer_function: bool = Field(
        True,
        description="the local CloudFront runs edge/viewer/function.js on every viewer request, "
        "as production's viewer-request CloudFront Function (docs/security.md)",
    )
    s3_timeout: float = Field(5.0, gt=0, description="connect/read timeout of the edge's S3 calls, seconds")
    coalesce_renders: bool = Field(
        True,
        description="concurrent misses on one small derivative wait for one render instead of each "
        "rendering it (docs/edge.md, Stampede)",
    )
    edge_deadline: float = Field(
        10.0,
        gt=0,
        le=25,
        description="seconds one edge invocation may spend on S3, the lock store and the queue before it "
        "serves the original (Lambda@Edge's origin-request limit is 30 s; docs/edge.md, Deadline)",
    )
    size_set: tuple[str, ...] = Field(
        (),
        description="URL arguments of the sizes a page asks together (WordPress: core.sizesets.WORDPRESS); "
        "a miss on one renders every missing member from one download and decode (docs/rendering.md)",
    )
    size_set_at_edge: bool = Field(
        True,
        description="the edge renders a size set itself when the original is small enough to render there; "
        "false: only the asked size at the edge (the worker renders the set of queued originals either way)",
    )
    freshness: Freshness = Field(
        "purge",
        description="how the edge knows a derivative is current: 'purge' (derivatives are deleted when "
        "their original changes, so behind an origin group a miss on an existing derivative asks S3 "
        "nothing) or 'verify' (every miss HEADs the derivative and the original and compares ETags)",
    )

    # Worker
    task_soft_time_limit: int = Field(120, ge=1, description="seconds before a render is asked to stop")
    task_time_limit: int = Field(150, ge=1, description="seconds before a render's process is killed")
    worker_max_tasks_per_child: int = Field(
        200, ge=1, description="renders before a pool process is replaced"
    )
    worker_max_memory_per_child: int = Field(
        1_000_000, ge=1, description="KiB of RSS before a pool process is replaced"
    )
    metrics_port: int | None = Field(None, description="serve Prometheus metrics on this port (worker)")
    visibility_timeout: int | None = Field(
        None,
        ge=1,
        description="seconds before an unacknowledged task is redelivered (Redis/SQS); "
        "default: task_time_limit + 60. Keep it above task_time_limit",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_file()
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if path is not None:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=path),)
        return sources

    @property
    def effective_lock_url(self) -> str | None:
        """Redis for pending-job keys: explicit, else the broker when it speaks Redis."""
        if self.lock_url:
            return self.lock_url
        return self.broker_url if self.broker_url.startswith(("redis://", "rediss://")) else None

    @field_validator("size_set")
    @classmethod
    def _valid_size_set(cls, queries: tuple[str, ...]) -> tuple[str, ...]:
        from core.sizesets import members

        try:
            members(queries, Limits())
        except InvalidArgument as error:
            raise ValueError(str(error)) from None
        return queries

    @field_validator("signing_keys")
    @classmethod
    def _strong_keys(cls, keys: list[str]) -> list[str]:
        from core.signing import MIN_KEY_LENGTH

        weak = [i for i, key in enumerate(keys) if len(key) < MIN_KEY_LENGTH]
        if weak:
            raise ValueError(
                f"signing key(s) number {', '.join(str(i + 1) for i in weak)} are shorter than "
                f"{MIN_KEY_LENGTH} characters; make one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
        return keys

    @model_validator(mode="after")
    def _size_policy_complete(self) -> Settings:
        if self.size_policy == "presets":
            from core.sizepolicy import presets_of

            if not self.presets:
                raise ValueError("size_policy 'presets' needs at least one preset")
            try:
                presets_of(self)
            except InvalidArgument as error:
                raise ValueError(f"preset: {error.reason}") from None
        if self.size_policy == "allowed" and not (self.allowed_sizes or self.size_step):
            raise ValueError("size_policy 'allowed' needs allowed_sizes or size_step")
        return self

    @field_validator("queue_urls")
    @classmethod
    def _known_queues(cls, urls: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(urls) - set(QUEUES))
        if unknown:
            raise ValueError(
                f"unknown queue name(s) {', '.join(unknown)}; the queues are {', '.join(QUEUES)}"
            )
        return urls

    @model_validator(mode="after")
    def _hard_limit_above_soft(self) -> Settings:
        if self.task_time_limit <= self.task_soft_time_limit:
            raise ValueError(
                f"task_time_limit ({self.task_time_limit} s) must be above task_soft_time_limit "
                f"({self.task_soft_time_limit} s): the soft limit ends a render with its reason, "
                "the hard limit kills the process after it"
            )
        return self

    @property
    def sqs(self) -> bool:
        """Whether the broker is SQS (the edge then sends with botocore, not Celery)."""
        return self.broker_url.startswith("sqs://")

    @property
    def effective_queue_region(self) -> str:
        """Region of the queues and the job table: explicit, else the bucket's."""
        return self.queue_region or self.region

    def limits(self) -> Limits:
        """The core's guard limits, as a plain value."""
        return Limits.model_validate(self.model_dump(include=set(Limits.model_fields)))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (a Lambda container, a worker)."""
    return Settings()
