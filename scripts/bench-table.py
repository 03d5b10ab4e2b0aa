#!/usr/bin/env python3
"""Makes the README's performance tables from the benches' JSON rows.

Every bench writes `target/axon-bench/<name>.json`, one object per row
(benches/common/output.rs). Keep each run's directory, then table them:

    for i in 1 2 3; do
        cargo bench --bench messaging
        mkdir -p /tmp/run$i && cp target/axon-bench/*.json /tmp/run$i/
    done
    python3 scripts/bench-table.py /tmp/run1/messaging.json /tmp/run2/messaging.json ...
        prints one markdown table
    python3 scripts/bench-table.py --readme README.md /tmp/run1 /tmp/run2 /tmp/run3
        rewrites every block of README.md between `<!-- bench-table NAME -->`
        and `<!-- /bench-table -->` with the table of NAME.json over the runs
        that have it

Each row of a table: the median of axon and of the peer (`raw`) over the
runs, the median ratio and its range; `lost` and `duplicates` (reliable
channels) as their maximum over the runs. Rows that say what they measure
(`measures`, as the lifecycle and scale benches' rows do) are tabled by
scenario and figure, with what each figure times written under the table.
"""
import datetime
import json
import os
import re
import statistics
import sys

NAMES = {"rtt_p50": "round trip p50", "rtt_p99": "round trip p99"}
PATTERNS = {"push-pull": "PUSH->PULL", "req-rep": "REQ/REP", "pub-4sub": "PUB->4 SUB"}
KEY = ("scenario", "bench", "pattern", "transport", "serializer", "size")
BLOCK = re.compile(r"(<!-- bench-table (\S+) -->\n)(.*?)(<!-- /bench-table -->)", re.S)


def key(row):
    return tuple(json.dumps(row.get(k)) for k in KEY)


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


def size(v):
    if v is None:
        return "-"
    return f"{v // 1024} KiB" if v >= 1024 and v % 1024 == 0 else f"{v} B"


def ratio(row):
    if row.get("ratio") is not None:
        return row["ratio"]
    if row.get("raw"):
        return row["axon"] / row["raw"]
    return None


def grouped(runs):
    """Rows of every run grouped by what they measured, in first-seen order."""
    order, by_key = [], {}
    for run in runs:
        for row in run:
            k = key(row)
            if k not in by_key:
                order.append(k)
                by_key[k] = []
            by_key[k].append(row)
    return [by_key[k] for k in order]


def summary(rows):
    """Median axon, median peer, sorted ratios of one row over the runs."""
    ratios = sorted(r for r in map(ratio, rows) if r is not None)
    raws = [r["raw"] for r in rows if r.get("raw") is not None]
    axon = statistics.median(r["axon"] for r in rows)
    return axon, (statistics.median(raws) if raws else None), ratios


def ratio_cells(first, ratios):
    better = " (lower is better)" if first.get("better") == "lower" and ratios else ""
    return [
        f"{statistics.median(ratios):.2f}{better}" if ratios else "-",
        f"{ratios[0]:.2f}-{ratios[-1]:.2f}" if ratios else "-",
    ]


def footer(runs):
    stamps = sorted(r["at_ms"] for run in runs for r in run if "at_ms" in r)
    days = sorted({datetime.datetime.fromtimestamp(s / 1000, datetime.timezone.utc).date().isoformat() for s in stamps})
    when = f", {', '.join(days)}" if days else ""
    return f"_{len(runs)} run{'s' if len(runs) != 1 else ''}{when}; made by `scripts/bench-table.py`._"


def figures(runs):
    """The table of figures that say what they measure (lifecycle, scale)."""
    head = ["scenario", "figure", "agents", "axon", "baseline", "unit", "axon/baseline", "range"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    legend = []
    for rows in grouped(runs):
        first = rows[0]
        axon, raw, ratios = summary(rows)
        agents = first.get("agents")
        lines.append("| " + " | ".join([
            first.get("scenario") or first["pattern"],
            first["bench"].replace("_", " "),
            str(agents) if agents is not None else "-",
            fmt(axon),
            fmt(raw),
            "µs" if first["unit"] == "us" else first["unit"],
            *ratio_cells(first, ratios),
        ]) + " |")
        text = first["measures"] + (f"; baseline: {first['baseline']}" if first.get("baseline") else "")
        entry = f"- {first.get('scenario') or first['pattern']}: {text}"
        if entry not in legend:
            legend.append(entry)
    return "\n".join(lines + [""] + legend + ["", footer(runs)]) + "\n"


def table(runs):
    """The markdown table of several runs of one bench (each a list of rows)."""
    if all("measures" in r for run in runs for r in run):
        return figures(runs)
    reliable = any("lost" in r for run in runs for r in run)
    head = ["bench", "pattern", "transport", "serializer", "size", "axon", "peer", "unit", "axon/peer", "range"]
    if reliable:
        head += ["lost", "duplicates"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rows in grouped(runs):
        first = rows[0]
        axon, raw, ratios = summary(rows)
        cells = [
            NAMES.get(first["bench"], first["bench"]),
            PATTERNS.get(first["pattern"], first["pattern"]),
            first.get("transport") or "-",
            first.get("serializer") or "-",
            size(first.get("size")),
            fmt(axon),
            fmt(raw),
            "µs" if first["unit"] == "us" else first["unit"],
            *ratio_cells(first, ratios),
        ]
        if reliable:
            for field in ("lost", "duplicates"):
                seen = [r[field] for r in rows if r.get(field) is not None]
                cells.append(str(max(seen)) if seen else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(footer(runs))
    return "\n".join(lines) + "\n"


def load(path):
    with open(path) as f:
        rows = json.load(f)
    if not isinstance(rows, list):
        sys.exit(f"{path}: not a list of rows (an older layout? run the bench again)")
    return rows


def readme(path, dirs):
    with open(path) as f:
        text = f.read()

    def block(m):
        name = m.group(2)
        files = [os.path.join(d, f"{name}.json") for d in dirs if os.path.exists(os.path.join(d, f"{name}.json"))]
        if not files:
            print(f"{name}: no runs given, block left as it is", file=sys.stderr)
            return m.group(0)
        print(f"{name}: {len(files)} run(s)", file=sys.stderr)
        return m.group(1) + table([load(f) for f in files]) + m.group(4)

    new = BLOCK.sub(block, text)
    with open(path, "w") as f:
        f.write(new)


def main(args):
    if not args:
        sys.exit(__doc__)
    if args[0] == "--readme":
        if len(args) < 3:
            sys.exit("usage: bench-table.py --readme README.md RUN_DIR...")
        readme(args[1], args[2:])
    else:
        print(table([load(p) for p in args]), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
