"""The settings the URL-only part of the edge reads, as a plain value: no pydantic on that path.

A CloudFront miss on an existing derivative must cost the function little CPU and
a cold start little import time (docs/edge.md, "Two passes"), and pydantic alone
imports in more time than that budget. So ``edge.request`` and ``edge.response``
read their few settings from ``EdgeConfig``, a frozen copy of those fields of
``core.settings.Settings``, which stays the one place that decides every value:

- in the Lambda package, ``tachyon-edge build-lambda`` writes ``edge/settings.json``
  from the bundled configuration resolved and validated by ``Settings``;
- anywhere else (tests, the local CloudFront, a ``TACHYON_*`` variable in the
  environment, which the JSON could not reflect) it is made from ``get_settings()``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.settings import Settings
    from core.types import Freshness

#: The resolved settings bundled into the Lambda package (absent in a source tree).
RESOLVED = os.path.join(os.path.dirname(__file__), "settings.json")


class EdgeConfig:
    """The ``Settings`` fields read on every invocation (their meaning: docs/configuration.md).

    It also serves as the limits ``core.args.parse_query`` needs (``SizeLimits``).
    A plain slotted class, not a dataclass: it is built on every cold start, and
    ``dataclasses`` costs that start more than this class does.
    """

    __slots__ = (
        "allowed_sizes",
        "auto_format",
        "derivative_prefix",
        "error_ttl",
        "fallback_ttl",
        "freshness",
        "max_side",
        "presets",
        "signing_keys",
        "size_outside",
        "size_policy",
        "size_step",
    )

    derivative_prefix: str
    auto_format: bool
    freshness: Freshness
    error_ttl: int
    fallback_ttl: int
    max_side: int
    signing_keys: list[str]
    size_policy: str
    presets: dict[str, str]
    allowed_sizes: list[int]
    size_step: int | None
    size_outside: str

    def __init__(self, values: Mapping[str, Any]) -> None:
        """From already validated values (``Settings.model_dump()`` or the resolved JSON)."""
        for name in self.__slots__:
            setattr(self, name, values[name])

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeConfig:
        return cls(settings.model_dump())

    def to_json(self) -> str:
        """What ``build-lambda`` bundles as ``edge/settings.json``."""
        return json.dumps({name: getattr(self, name) for name in self.__slots__}, indent=2) + "\n"


def load() -> EdgeConfig:
    """The configuration in force; raises when it is invalid.

    The bundled JSON is used only when nothing could override it (no ``TACHYON_*``
    variable, which is always so on Lambda@Edge); otherwise ``Settings`` decides.
    """
    if not any(name.upper().startswith("TACHYON_") for name in os.environ):
        try:
            with open(RESOLVED, encoding="utf-8") as file:
                return EdgeConfig(json.load(file))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no bundle (a source tree), or an unreadable one: Settings decides
    from core.settings import get_settings

    return EdgeConfig.from_settings(get_settings())
