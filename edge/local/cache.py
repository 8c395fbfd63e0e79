"""The local CloudFront's response cache: CloudFront's TTL rules, bounded in memory.

It behaves like a distribution whose cache policy has MinTTL 0, DefaultTTL 0
and MaxTTL one year (the settings ``docs/deploy.md`` recommends): a response
is kept for its ``s-maxage`` or ``max-age`` and not at all without one, or
with ``no-store``/``no-cache``/``private``. That is what lets the edge's
short fallback lifetime work: the original served while a derivative renders
is kept for seconds, and the next request after that reaches the edge again.
"""

from __future__ import annotations

import re
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

MAX_TTL = 31_536_000
#: Bytes one key costs the LRU besides the key string: its hash-table slot and link (CPython's OrderedDict).
ENTRY_OVERHEAD = 100
_DIRECTIVE = re.compile(r"\s*([a-zA-Z-]+)\s*(?:=\s*\"?([^\",]*)\"?)?\s*")
_NOT_STORED = frozenset({"no-store", "no-cache", "private"})


def cache_ttl(cache_control: str | None, *, default_ttl: int = 0, max_ttl: int = MAX_TTL) -> int:
    """Seconds CloudFront keeps a response with this ``Cache-Control`` (MinTTL 0)."""
    if not cache_control:
        return min(default_ttl, max_ttl)
    directives: dict[str, str] = {}
    for part in cache_control.split(","):
        match = _DIRECTIVE.fullmatch(part)
        if match:
            directives[match.group(1).lower()] = match.group(2) or ""
    if _NOT_STORED & directives.keys():
        return 0
    for name in ("s-maxage", "max-age"):
        value = directives.get(name)
        if value is not None:
            return min(int(value), max_ttl) if value.isdigit() else 0
    return min(default_ttl, max_ttl)


@dataclass(frozen=True, slots=True)
class Cached:
    """One stored response, as it was sent to the viewer (without ``x-cache``)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    has_body: bool  # False for a stored HEAD answer: it can answer HEAD, not GET
    expires: float = field(compare=False)

    @property
    def size(self) -> int:
        """Bytes this entry keeps alive in this process, not only its payload.

        The body and each header name and value are Python objects with their
        own headers (≈ 33 bytes per ``bytes``, 41–57 per ``str``), every header
        pair a tuple, plus the entry itself: for a small derivative with ten
        headers that is several times the payload.
        """
        headers = sys.getsizeof(self.headers) + sum(
            sys.getsizeof(pair) + sys.getsizeof(pair[0]) + sys.getsizeof(pair[1]) for pair in self.headers
        )
        return sys.getsizeof(self.body) + headers + sys.getsizeof(self)


class ResponseCache:
    """An LRU of responses by cache key, bounded by total bytes, expiring by TTL.

    ``clock`` is injectable so that expiry can be reasoned about without sleeping.
    """

    def __init__(
        self,
        max_bytes: int = 128 * 1024 * 1024,
        max_object_bytes: int = 16 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_object_bytes = max_object_bytes
        self.clock = clock
        self._entries: OrderedDict[str, Cached] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Bytes currently held: bodies, headers and the objects holding them (``Cached.size``)."""
        return self._bytes

    @staticmethod
    def footprint(key: str, entry: Cached) -> int:
        """What storing ``entry`` under ``key`` costs in memory."""
        return entry.size + sys.getsizeof(key) + ENTRY_OVERHEAD

    def get(self, key: str, *, need_body: bool) -> Cached | None:
        """A live entry for ``key``; a HEAD-only entry never answers a GET."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self.clock():
            self._drop(key)
            return None
        if need_body and not entry.has_body:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(
        self,
        key: str,
        status: int,
        headers: Mapping[str, str] | list[tuple[str, str]],
        body: bytes,
        *,
        ttl: int,
        has_body: bool = True,
    ) -> bool:
        """Store a response for ``ttl`` seconds; False when it is not cacheable or too big."""
        items = tuple(headers.items() if isinstance(headers, Mapping) else headers)
        entry = Cached(status, items, body, has_body, self.clock() + ttl)
        cost = self.footprint(key, entry)
        if ttl <= 0 or len(body) > self.max_object_bytes or cost > self.max_bytes:
            return False
        old = self._entries.get(key)
        if old is not None and old.has_body and not has_body:
            return False  # a HEAD answer never replaces a full one
        self._drop(key)
        self._entries[key] = entry
        self._bytes += cost
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))
        return True

    def clear(self) -> None:
        """Forget everything (an invalidation of ``/*``)."""
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= self.footprint(key, entry)
