"""The package layout's import rules, read from the source (every import, lazy ones included).

- ``core`` is the pure derivative core: it imports none of ``edge``, ``worker``,
  ``cli``, and no I/O library (no AWS SDK, Redis, Celery, HTTP client or server);
- ``edge`` and ``worker`` never import each other (nor the command line);
- ``purger`` (the purge Lambda) imports only ``core``;
- ``cli`` sits above both and may import anything.
A cycle between two packages always breaks one of these rules; the checker is
run on a made-up tree too, to show that it reports one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "edge", "worker", "cli", "purger")
IO_LIBRARIES = frozenset({"boto3", "botocore", "redis", "celery", "kombu", "aiohttp", "moto", "urllib3"})
#: package → top-level names it must never import.
FORBIDDEN: dict[str, frozenset[str]] = {
    "core": frozenset({"edge", "worker", "cli"}) | IO_LIBRARIES,
    "edge": frozenset({"worker", "cli"}),
    "worker": frozenset({"edge", "cli"}),
    "purger": frozenset({"edge", "worker", "cli"}),
    "cli": frozenset(),
}


def imports(path: Path, root: Path) -> set[str]:
    """Top-level names a module imports, at any depth (functions, TYPE_CHECKING blocks)."""
    module_parts = path.relative_to(root).with_suffix("").parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                anchor = module_parts[: len(module_parts) - node.level]
                found.add(anchor[0] if anchor else module_parts[0])
            elif node.module:
                found.add(node.module.partition(".")[0])
    return found


def violations(root: Path, forbidden: dict[str, frozenset[str]]) -> list[str]:
    """Every ``file: imports name`` that breaks the rules."""
    out = []
    for package, banned in forbidden.items():
        for path in sorted((root / package).rglob("*.py")):
            for name in sorted(imports(path, root) & banned):
                out.append(f"{path.relative_to(root)} imports {name}")
    return out


def test_no_package_imports_what_the_layout_forbids() -> None:
    assert violations(ROOT, FORBIDDEN) == []


def test_the_rules_catch_a_cycle_between_edge_and_worker(tmp_path: Path) -> None:
    for name, other in (("edge", "worker"), ("worker", "edge")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        (tmp_path / name / "flow.py").write_text(f"def f() -> None:\n    from {other}.app import thing\n")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "keys.py").write_text("from __future__ import annotations\nimport botocore\n")
    found = violations(tmp_path, {k: FORBIDDEN[k] for k in ("core", "edge", "worker")})
    assert found == [
        "core/keys.py imports botocore",
        "edge/flow.py imports worker",
        "worker/flow.py imports edge",
    ]


def test_every_package_is_checked() -> None:
    """Every product package has rules (tests and benchmarks may import anything)."""
    top = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert top == set(PACKAGES)
