"""Where benchmark results go, with what they were measured on.

A full run writes ``docs/benchmarks/<name>.json``: committed beside the docs that
quote it, stamped with the date, the commit (and whether the tree had local
changes), the Python and the machine. A quick run (``--quick``) writes under
``benchmarks/results/`` instead, which is not committed.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks"
SCRATCH = ROOT / "benchmarks" / "results"


def provenance() -> dict[str, Any]:
    """Date, commit and machine of this run."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def write(name: str, results: dict[str, Any], *, quick: bool = False) -> Path:
    """Write ``results`` with their provenance; returns the path written."""
    path = (SCRATCH if quick else DOCS) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"provenance": provenance(), **results}, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path
