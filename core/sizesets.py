"""Size sets: the sizes a page asks of one original together (a WordPress ``srcset``).

A site lists its set once (``Settings.size_set``, URL arguments as the pages write
them). When a miss arrives for one member, the one download and one decode make
every missing member, written together, so the page's other ``srcset`` requests
are hits (docs/rendering.md, "Size sets"). This module only says which requests
are members and what the others are; where the set is rendered is ``edge.policy``'s
and the worker's business.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.args import SizeLimits, parse_query
from core.errors import InvalidArgument
from core.transform import Transform

#: The WordPress image sizes as the Tachyon plugin asks for them (thumbnail 150×150
#: cropped, medium, medium_large, large, 1536×1536, 2048×2048): the documented example.
WORDPRESS = ("resize=150,150", "fit=300,300", "w=768", "fit=1024,1024", "fit=1536,1536", "fit=2048,2048")


def members(queries: Sequence[str], limits: SizeLimits) -> list[tuple[str, Transform]]:
    """The set's queries with their transforms; raises ``InvalidArgument`` for a bad one."""
    out: list[tuple[str, Transform]] = []
    for query in queries:
        transform = parse_query(query, limits)
        if transform is None:
            raise InvalidArgument("size_set", f"{query!r} asks for no transform")
        out.append((query, transform))
    return out


def siblings(transform: Transform, queries: Sequence[str], limits: SizeLimits) -> list[tuple[str, Transform]]:
    """The set's other members when ``transform`` is one of them (the same arguments), else none."""
    found = members(queries, limits)
    if all(other != transform for _query, other in found):
        return []
    seen = {transform}
    out: list[tuple[str, Transform]] = []
    for query, other in found:
        if other not in seen:  # two spellings of one size are one derivative
            seen.add(other)
            out.append((query, other))
    return out


def expand(query: str, queries: Sequence[str], limits: SizeLimits) -> list[str]:
    """``query`` first, then the set's other members' queries when it is one (the worker's job list)."""
    try:
        transform = parse_query(query, limits)
    except InvalidArgument:
        return [query]  # the render reports the bad argument
    if transform is None or not queries:
        return [query]
    return [query, *(other for other, _t in siblings(transform, queries, limits))]
