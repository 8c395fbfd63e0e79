"""Configuration: defaults < TOML file < TACHYON_* environment < values from flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings


def test_defaults_run_without_any_file_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TACHYON_CONFIG", "TACHYON_BUCKET", "TACHYON_FALLBACK_TTL", "TACHYON_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.derivative_prefix == "_derivatives/"
    assert settings.fallback_ttl == 10
    assert settings.effective_lock_url == settings.broker_url


def test_later_sources_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "tachyon.toml"
    config.write_text('bucket = "from-file"\nfallback_ttl = 7\nsync_max_bytes = 123\n')
    monkeypatch.setenv("TACHYON_CONFIG", str(config))
    monkeypatch.setenv("TACHYON_FALLBACK_TTL", "3")
    settings = Settings()
    assert (settings.bucket, settings.fallback_ttl, settings.sync_max_bytes) == ("from-file", 3, 123)
    assert Settings(bucket="from-flag").bucket == "from-flag"


def test_lock_url_defaults_to_a_redis_broker_only() -> None:
    assert Settings(broker_url="rediss://cache:6379/0").effective_lock_url == "rediss://cache:6379/0"
    assert Settings(broker_url="sqs://").effective_lock_url is None
    assert Settings(broker_url="sqs://", lock_url="redis://r/1").effective_lock_url == "redis://r/1"


def test_limits_reach_the_core() -> None:
    assert Settings(max_output_side=4096).limits().max_output_side == 4096


def test_invalid_values_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="fallback_ttl"):
        Settings(fallback_ttl=-1)
