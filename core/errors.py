"""The two ways a request is refused.

Every refusal carries a ``reason`` a site owner can read: it becomes the body
of a 400 at the edge, a one-line message from the CLI, or the recorded reason
of a failed worker job. Nothing else may leave the core for any input.
"""

from __future__ import annotations


class TachyonError(Exception):
    """A request we refuse, with a human-readable reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidArgument(TachyonError):
    """A URL argument has a value we do not accept; the viewer gets a 400."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"Invalid {name}: {reason}")
        self.name = name


class ImageRefused(TachyonError):
    """The original cannot or may not be rendered (guard, corrupt, unsupported).

    The edge answers these with the original as a fallback; the worker records
    the reason and stops retrying.
    """
