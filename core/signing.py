"""Signed URLs: an HMAC-SHA256 over the path and the canonical query, in one argument ``s``.

``s=SIG`` or, with an expiry, ``s=EXPIRES.SIG``, where ``SIG`` is the unpadded
base64url HMAC-SHA256, keyed by a signing key, of::

    EXPIRES "\\n" PATH "\\n" CANONICAL

``PATH`` is the URL's path percent-decoded (``/uploads/a b.jpg``: any spelling of
one key signs alike), ``CANONICAL`` is ``core.args.canonical_query`` of the query
without ``s``, and ``EXPIRES`` is Unix seconds, or empty. What the signature covers
is therefore exactly what the edge reads: reordering, re-encoding or adding
arguments the edge ignores changes nothing (the viewer function drops those
anyway); any change to an argument the edge reads, to the path or to the expiry
is refused. Several keys are accepted at once (rotation); the first signs.
docs/security.md, "Signed URLs". Stdlib only: this runs on the edge's primary pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

from core.args.canonical import KNOWN, PRESET, SIGNATURE, canonical_query, read_args

#: The shortest signing key accepted (characters); `secrets.token_urlsafe(32)` gives 43.
MIN_KEY_LENGTH = 32
_DERIVATIVE_ARGS = KNOWN | {PRESET}


def _without_signature(query: str) -> tuple[str, str | None]:
    """The query with every ``s`` argument removed, and the last ``s`` value (the one that counts)."""
    kept: list[str] = []
    value: str | None = None
    for piece in query.split("&"):
        name, _, raw = piece.partition("=")
        if unquote(name.replace("+", " ")) == SIGNATURE:
            value = unquote(raw.replace("+", " ")).strip()
        elif piece:
            kept.append(piece)
    return "&".join(kept), value


def message(path: str, query: str, expires: int | None) -> bytes:
    """What is signed for ``path`` (as in the URL) and ``query`` (without ``s``)."""
    decoded = unquote(path, errors="surrogateescape")
    text = f"{'' if expires is None else expires}\n{decoded}\n{canonical_query(query)}"
    return text.encode("utf-8", "surrogateescape")


def signature(key: str, path: str, query: str, expires: int | None = None) -> str:
    """The value of ``s`` for ``path`` and ``query`` signed with ``key``."""
    digest = hmac.new(key.encode("utf-8"), message(path, query, expires), hashlib.sha256).digest()
    sig = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return sig if expires is None else f"{expires}.{sig}"


def sign_url(url: str, key: str, *, expires: int | None = None) -> str:
    """``url`` (absolute, or a path with a query) with its signature appended (an old one replaced)."""
    parts = urlsplit(url)
    query, _ = _without_signature(parts.query)
    value = signature(key, parts.path or "/", query, expires)
    signed = f"{query}&{SIGNATURE}={value}" if query else f"{SIGNATURE}={value}"
    return urlunsplit(parts._replace(query=signed))


def verify(path: str, query: str, keys: Sequence[str], now: float | None = None) -> str | None:
    """Why ``path?query`` is refused (a short reason), or None when one of ``keys`` signed it."""
    unsigned, value = _without_signature(query)
    if not value:
        return "Missing signature."
    expires_text, dot, sig = value.rpartition(".")
    expires: int | None = None
    if dot:
        if not (expires_text.isdigit() and expires_text.isascii() and len(expires_text) <= 12):
            return "Invalid signature."
        expires = int(expires_text)
    if not sig.isascii():
        return "Invalid signature."
    given = sig.encode("ascii")
    body = message(path, unsigned, expires)
    valid = False
    for key in keys:  # every key is tried, so the time taken does not say which one matched
        digest = hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()
        valid |= hmac.compare_digest(base64.urlsafe_b64encode(digest).rstrip(b"="), given)
    if not valid:
        return "Invalid signature."
    if expires is not None and (time.time() if now is None else now) > expires:
        return "Signature expired."
    return None


def asks_for_a_derivative(query: str) -> bool:
    """Whether ``query`` names an argument the edge reads: only those requests need a signature
    (the original itself, with no such argument, is served as any static file)."""
    return bool(read_args(query, _DERIVATIVE_ARGS))
