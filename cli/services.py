"""The command line's view of the services it reaches (S3, Redis, SQS, the broker).

A command that cannot reach a service, or that a service refuses (no such
bucket or queue, a wrong password), says so in one line and exits with status
2, never with a traceback: ``with reaching("S3", endpoint): ...``. Whether a
failure is "unreachable" or "refused" is ``core.s3errors.meaning``'s rule,
read along the exception's causes (kombu and the worker wrap the original one).
Passwords in URLs are never printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import click

from core.errors import error_text
from core.s3errors import meaning

EXIT_SERVICE = 2
#: Libraries whose exceptions mean a service failed (rather than a bug of ours).
_SERVICE_MODULES = frozenset({"botocore", "boto3", "redis", "kombu", "amqp", "worker"})


class ServiceFailed(click.ClickException):
    """A service was unreachable or refused; printed as one line, exit status 2."""

    exit_code = EXIT_SERVICE


def safe_url(url: str | None) -> str:
    """``url`` without its password (``redis://:secret@host`` → ``redis://:***@host``)."""
    if not url:
        return "(not set)"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__  # explicit wrapping only: a __context__ is often unrelated


def is_service_error(error: BaseException) -> bool:
    """Whether ``error`` comes from a service client (or is a socket error), not from our code."""
    return isinstance(error, OSError) or any(
        type(e).__module__.partition(".")[0] in _SERVICE_MODULES for e in _chain(error)
    )


def describe(service: str, where: str, error: BaseException) -> str:
    """One line: which service, where, unreachable or refused, and the first cause's words."""
    chain = list(_chain(error))
    down = any(meaning(e) == "transient" or isinstance(e, ConnectionError | TimeoutError) for e in chain)
    cause = chain[-1]
    text = error_text(cause, 200)
    if type(cause).__name__ not in text:
        text = f"{type(cause).__name__}: {text}"
    return f"{service} unreachable at {where}: {text}" if down else f"{service} at {where} refused: {text}"


@contextmanager
def reaching(service: str, where: str | None) -> Iterator[None]:
    """Turn a failure of ``service`` (at ``where``) into ``ServiceFailed``; other errors pass."""
    try:
        yield
    except click.ClickException:
        raise
    except Exception as error:
        if not is_service_error(error):
            raise
        raise ServiceFailed(describe(service, safe_url(where), error)) from None
