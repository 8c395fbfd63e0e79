"""Markdown tables of docs/performance.md, from the committed JSON of the speed benchmarks.

.venv/bin/python benchmarks/speed_tables.py > /tmp/tables.md   # then paste into docs/performance.md
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def load(name: str) -> dict[str, Any] | None:
    path = DOCS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def stamp(data: dict[str, Any]) -> str:
    p = data["provenance"]
    dirty = ", local changes" if p["dirty"] else ""
    return (
        f"_{p['date'][:10]}, commit {p['commit']}{dirty}, {p['machine']}, load average {p['load_average']}_"
    )


def f(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def speed(data: dict[str, Any]) -> None:
    print(stamp(data) + "\n")
    head = "| source | args | output | CPU ms ours / sharp | CPU × | bytes × | SSIM ours / sharp"
    print(head + " | resize SSIM ours / sharp | bar |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in data["rows"]:
        o, s = r["ours"], r["sharp"]
        print(f"| {r['source']} | `{r['query']}` | {r['format']} | {o['cpu_ms']} / {s['cpu_ms']} | "
              f"{r['cpu_ratio']:.2f} | {r['bytes_ratio']:.2f} | {f(o['ssim'])} / {f(s['ssim'])} | "
              f"{f(o['resize_ssim'])} / {f(s['resize_ssim'])} | {'✓' if r['met'] else '✗'} |")  # fmt: skip
    wp = data.get("wordpress")
    if wp:
        print(f"\nWordPress set ({wp['source']}, JPEG): ours {wp['ours_cpu_ms']} ms in one `render_many`, "
              f"sharp's six renders {wp['sharp_sum_cpu_ms']} ms: **{wp['cpu_ratio']:.2f}×**, bytes "
              f"{wp['bytes_ratio']:.2f}×.\n")  # fmt: skip
        print("| size | ours bytes / sharp | SSIM ours / sharp |")
        print("|---|---|---|")
        for s in wp["sizes"]:
            print(f"| `{s['query']}` {s['size']} | {s['ours_bytes']} / {s['sharp_bytes']} | "
                  f"{f(s['ours_ssim'])} / {f(s['sharp_ssim'])} |")  # fmt: skip


def srcset(data: dict[str, Any]) -> None:
    print(stamp(data) + "\n")
    head = "| | original GETs | decodes | CPU ms (edge + CloudFront) | first request ms"
    print(head + " | later requests ms | outcomes |")
    print("|---|---|---|---|---|---|---|")
    for side, s in data["summary"].items():
        print(f"| {side} | {s['original_gets']} | {s['decodes']} | {s['cpu_ms']} | {s['first_request_ms']} | "
              f"{s['later_requests_ms']} | {' '.join(map(str, s['outcomes']))} |")  # fmt: skip


def cold(data: dict[str, Any]) -> None:
    print(stamp(data) + "\n")
    print("| | CPU ms | wall ms |")
    print("|---|---|---|")
    for name, value in data["summary"].items():
        print(f"| {name} | {value['cpu_ms']} | {value['wall_ms']} |")


def png(data: dict[str, Any]) -> None:
    print(stamp(data) + "\n")
    names = sorted(
        {d for row in data["decode"].values() for d in row},
        key=list(next(iter(data["decode"].values()))).index,
    )
    print("| source | " + " | ".join(f"{n} ms" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for source, row in data["decode"].items():
        print(f"| {source} | " + " | ".join(str(row.get(n, "–")) for n in names) + " |")
    print(
        "\n| source | width | "
        + " | ".join(r["setting"] for r in next(iter(data["encode"].values()))[:4])
        + " |"
    )
    print("|---|---|" + "---|" * 4)
    for source, rows in data["encode"].items():
        for width in (300, 768):
            cells = [f"{r['bytes']} B, {r['cpu_ms']} ms" for r in rows if r["width"] == width]
            print(f"| {source} | {width} | " + " | ".join(cells) + " |")


def main() -> None:
    tables = (("speed", speed), ("speed-best", speed), ("srcset", srcset), ("coldstart", cold), ("png", png))
    for name, table in tables:
        data = load(name)
        if data is not None:
            print(f"<!-- {name}.json -->")
            table(data)
            print()


if __name__ == "__main__":
    main()
