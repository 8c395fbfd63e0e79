"""Size policies (opt-in): which derivatives a URL may ask for (docs/security.md, "Size policies").

- ``presets``: only named presets (``?preset=thumbnail``, its arguments in the
  configuration), or a URL whose transform is exactly one of theirs (so the
  WordPress plugin's URLs for those sizes keep working). Anything else is a 400
  naming the presets: there is no "nearest" preset to send a viewer to.
- ``allowed``: every size the render would have (after ``zoom``) must be one of
  ``allowed_sizes`` or a multiple of ``size_step``. A size outside is, by
  ``size_outside``: ``refuse`` (400 naming the sizes), ``redirect`` (302 to the
  URL of the nearest allowed sizes) or ``snap`` (that nearest derivative, served
  under the URL asked).

``decide`` returns what to render (``Allowed``), or a ``Redirect``; it raises
``InvalidArgument`` for a refusal. Pure and stdlib-only: it runs on the primary pass.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, Protocol
from urllib.parse import quote

from core.args import canonical_query, parse_query
from core.args.canonical import KEPT, PAIRED, PRESET, SIGNATURE, read_args
from core.errors import InvalidArgument

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from core.transform import Transform


class Policy(Protocol):
    """The settings a size policy reads (``core.settings.Settings`` and ``edge.config.EdgeConfig``)."""

    @property
    def max_side(self) -> int: ...
    @property
    def size_policy(self) -> str: ...
    @property
    def presets(self) -> Mapping[str, str]: ...
    @property
    def allowed_sizes(self) -> Sequence[int]: ...
    @property
    def size_step(self) -> int | None: ...
    @property
    def size_outside(self) -> str: ...


class Redirect(NamedTuple):
    """Send the viewer to this query instead (the nearest allowed sizes)."""

    query: str


class Allowed(NamedTuple):
    """What to render, and the query that says it (what a job message carries to the worker)."""

    transform: Transform | None
    query: str


class _Side(NamedTuple):
    max_side: int


@lru_cache(maxsize=8)
def _preset_transforms(presets: tuple[tuple[str, str], ...], max_side: int) -> dict[str, Transform]:
    out: dict[str, Transform] = {}
    for name, query in presets:
        transform = parse_query(query, _Side(max_side))
        if transform is None:
            raise InvalidArgument(PRESET, f"{name!r} has no argument that makes a derivative")
        out[name] = transform
    return out


def presets_of(policy: Policy) -> dict[str, Transform]:
    """Each preset's transform (raises ``InvalidArgument`` for a preset that makes none)."""
    return _preset_transforms(tuple(sorted(policy.presets.items())), policy.max_side)


def decide(query: str, transform: Transform | None, policy: Policy) -> Allowed | Redirect:
    """What ``query`` (parsed to ``transform``) gets under ``policy`` (a None transform: no
    derivative asked); raises ``InvalidArgument`` for a refusal."""
    if policy.size_policy == "presets":
        return _preset(query, transform, policy)
    if policy.size_policy == "allowed" and transform is not None:
        return _allowed(query, transform, policy)
    return Allowed(transform, query)


def _preset(query: str, transform: Transform | None, policy: Policy) -> Allowed:
    presets = presets_of(policy)
    args = read_args(query, KEPT - {SIGNATURE})
    names = ", ".join(sorted(presets))
    if PRESET in args:
        others = sorted(set(args) - {PRESET})
        if others:
            raise InvalidArgument(
                PRESET, f"cannot be combined with other arguments (got {', '.join(others)})."
            )
        chosen = presets.get(args[PRESET])
        if chosen is None:
            raise InvalidArgument(PRESET, f"must be one of {names}; got {args[PRESET]!r}.")
        return Allowed(chosen, canonical_query(policy.presets[args[PRESET]]))
    if transform is None or transform in presets.values():
        return Allowed(transform, query)
    raise InvalidArgument(PRESET, f"only presets are served here: preset= one of {names}.")


def allowed(size: int, policy: Policy) -> bool:
    step = policy.size_step
    return size in policy.allowed_sizes or (step is not None and size % step == 0)


def nearest(size: int, policy: Policy) -> int:
    """The allowed size nearest ``size`` (a tie goes to the larger, which never looks blurred)."""
    candidates = [s for s in policy.allowed_sizes if s <= policy.max_side]
    step = policy.size_step
    if step is not None:
        below = max(step, size // step * step)
        candidates += [s for s in (below, below + step) if s <= policy.max_side]
    return min(candidates, key=lambda s: (abs(s - size), -s)) if candidates else size


def _allowed(query: str, transform: Transform, policy: Policy) -> Allowed | Redirect:
    sides = [s for s in (transform.width, transform.height) if s is not None]
    if all(allowed(s, policy) for s in sides):
        return Allowed(transform, query)
    if policy.size_outside == "refuse":
        shown = ", ".join(str(s) for s in sorted(policy.allowed_sizes))
        step = f"; or a multiple of {policy.size_step}" if policy.size_step else ""
        raise InvalidArgument("size", f"{'×'.join(map(str, sides))} px is not served here: {shown}{step}.")
    width = None if transform.width is None else nearest(transform.width, policy)
    height = None if transform.height is None else nearest(transform.height, policy)
    snapped = transform._replace(width=width, height=height)
    spelt = _query_for(query, snapped)
    return Allowed(snapped, spelt) if policy.size_outside == "snap" else Redirect(spelt)


def _query_for(query: str, snapped: Transform) -> str:
    """``query`` with its sizes replaced by ``snapped``'s (zoom folded in, its quality kept)."""
    args = read_args(canonical_query(query), KEPT)
    if "zoom" in args:
        del args["zoom"]
        args.setdefault("quality", str(snapped.quality))
    rule = next((name for name in PAIRED if name in args), None)
    if rule is not None:
        args[rule] = f"{snapped.width or 0},{snapped.height or 0}"
    else:
        for name, size in (("w", snapped.width), ("h", snapped.height)):
            if size is not None:
                args[name] = str(size)
    return canonical_query("&".join(f"{name}={quote(value, safe=',')}" for name, value in args.items()))
