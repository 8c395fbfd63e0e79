"""The first render after a cold import against a warm one, in fresh interpreters.

Plain script (no pytest): prints a table and writes ``docs/benchmarks/coldstart.json``
(``benchmarks/results/coldstart.json`` with ``--quick``; see ``benchmarks/record.py``).

    .venv/bin/python benchmarks/bench_coldstart.py [--runs 5]

Each run is a new ``python -I`` process that imports ``core.processing`` (which
loads no Pillow: the edge's hit path never renders), then renders a web-sized
JPEG to a 300 px JPEG three times. Reported, as medians over the runs: CPU and
wall time of the package import, of the first render (Pillow, the pipeline's
step modules and the resampler are imported then), and of the warm renders;
and which heavy modules the bare import left unloaded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from benchmarks import record  # noqa: E402

SOURCE = ROOT / "tests" / "fixtures" / "briefing-copywriting.jpg"
HEAVY = ("PIL.Image", "core.processing.pipeline", "cykooz_resizer", "numpy")

CHILD = """
import json, sys, time
c, w = time.process_time(), time.perf_counter()
import core.processing as p
from core.limits import Limits
imported = (time.process_time() - c, time.perf_counter() - w)
loaded = [m for m in HEAVY if m in sys.modules]
data = open(SOURCE, "rb").read()
times = []
for _ in range(3):
    c, w = time.process_time(), time.perf_counter()
    p.render(data, "w=300", limits=Limits())
    times.append((time.process_time() - c, time.perf_counter() - w))
print(json.dumps({"import": imported, "renders": times, "loaded_by_import": loaded}))
"""


def one_run() -> dict[str, Any]:
    code = f"HEAVY = {HEAVY!r}; SOURCE = {str(SOURCE)!r}\n" + CHILD
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=120)  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="two runs (not committed)")
    args = parser.parse_args()
    runs = [one_run() for _ in range(2 if args.quick else args.runs)]

    def median_ms(pick: Any) -> dict[str, float]:
        return {"cpu_ms": round(statistics.median(pick(r)[0] for r in runs) * 1000, 1),
                "wall_ms": round(statistics.median(pick(r)[1] for r in runs) * 1000, 1)}  # fmt: skip

    summary = {
        "import core.processing": median_ms(lambda r: r["import"]),
        "first render (cold)": median_ms(lambda r: r["renders"][0]),
        "warm render": median_ms(lambda r: min(r["renders"][1:])),
    }
    cold, warm = summary["first render (cold)"]["cpu_ms"], summary["warm render"]["cpu_ms"]
    loaded = sorted({m for r in runs for m in r["loaded_by_import"]})
    print(f"{'':24} {'CPU ms':>8} {'wall ms':>8}")
    for name, value in summary.items():
        print(f"{name:24} {value['cpu_ms']:>8} {value['wall_ms']:>8}")
    print(f"cold first render costs {cold - warm:.1f} ms CPU more than a warm one; "
          f"heavy modules loaded by the import alone: {loaded or 'none'}")  # fmt: skip
    meta = {"source": f"{SOURCE.name} → w=300 JPEG", "runs": len(runs), "python": sys.version.split()[0],
            "note": "a fresh `python -I` per run (byte-code cached); machine shared"}  # fmt: skip
    results = {"meta": meta, "summary": summary, "cold_extra_cpu_ms": round(cold - warm, 1),
               "heavy_loaded_by_import": loaded, "runs": runs}  # fmt: skip
    record.write("coldstart", results, quick=args.quick)


if __name__ == "__main__":
    main()
