"""The two ways a request is refused.

Every refusal carries a ``reason`` a site owner can read: it becomes the body
of a 400 at the edge, a one-line message from the CLI, or the recorded reason
of a failed worker job. Nothing else may leave the core for any input.
"""

from __future__ import annotations

import re

#: An object's default repr (``<_io.BytesIO object at 0x7f…>``), or any other address.
_ADDRESS = re.compile(r"\s*<[^<>]*\bat 0x[0-9a-fA-F]+>|0x[0-9a-fA-F]{8,}")


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


def error_text(error: BaseException, limit: int = 160) -> str:
    """A library error as a refusal reason quotes it: its first line, short, the same on every run.

    Reasons are logged, recorded and compared, so what differs between
    processes (an object's address in a repr, as in Pillow's "cannot identify
    image file <_io.BytesIO object at 0x…>") is removed.
    """
    text = (str(error).splitlines() or [""])[0]
    text = _ADDRESS.sub("", text).strip() or type(error).__name__
    return text[:limit]
