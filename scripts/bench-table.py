#!/usr/bin/env python3
"""Prints the README's messaging table from several runs of the messaging bench.

    for i in 1 2 3; do cargo bench --bench messaging; cp target/axon-bench/messaging.json /tmp/msg$i.json; done
    python3 scripts/bench-table.py /tmp/msg*.json

Each row: the median of axon and of raw libzmq over the runs, the median
ratio, and the range of the ratio.
"""
import json
import statistics
import sys

NAMES = {"rtt_p50": "round trip p50", "rtt_p99": "round trip p99"}
PATTERNS = {"push-pull": "PUSH->PULL", "req-rep": "REQ/REP", "pub-4sub": "PUB->4 SUB"}


def key(row):
    return (row["bench"], row["pattern"], row["transport"], row["serializer"], row["size"])


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    print("| bench | pattern | transport | serializer | size | axon | raw libzmq | unit | axon/raw | range |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for first in runs[0]:
        rows = [next(r for r in run if key(r) == key(first)) for run in runs]
        ratios = sorted(r["ratio"] for r in rows)
        better = " (lower is better)" if first.get("better") == "lower" else ""
        size = "1 KiB" if first["size"] == 1024 else f"{first['size']} B"
        unit = "µs" if first["unit"] == "us" else first["unit"]
        print(
            f"| {NAMES.get(first['bench'], first['bench'])} | {PATTERNS.get(first['pattern'], first['pattern'])}"
            f" | {first['transport']} | {first['serializer']} | {size}"
            f" | {statistics.median(r['axon'] for r in rows):.0f} | {statistics.median(r['raw'] for r in rows):.0f}"
            f" | {unit} | {statistics.median(ratios):.2f}{better} | {ratios[0]:.2f}-{ratios[-1]:.2f} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
