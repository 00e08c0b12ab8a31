#!/usr/bin/env python3
"""One markdown row comparing two `kintsugi bench --json` results (A, then B as a ratio of A).

Usage: bench_compare.py METRIC LABEL... -- JSON_A JSON_B
  METRIC: mib_per_s or ops_per_s. Prints `| LABEL | ... | A PUT | B PUT | B/A | A GET | B GET | B/A |`.
Fails when either run saw an error or a GET byte that did not verify."""

import json
import sys


def phases(line):
    r = json.loads(line)
    p = {x["phase"]: x for x in r["phases"]}
    assert all(x["errors"] == 0 for x in p.values()) and p["get"]["verify_failures"] == 0, r
    return p


def main():
    metric, rest = sys.argv[1], sys.argv[2:]
    cut = rest.index("--")
    labels, (ja, jb) = rest[:cut], rest[cut + 1 :]
    a, b = phases(ja), phases(jb)
    fmt = "{:.1f}" if metric == "mib_per_s" else "{:.0f}"
    cells = list(labels)
    for phase in ("put", "get"):
        x, y = a[phase][metric], b[phase][metric]
        cells += [fmt.format(x), fmt.format(y), f"{y / x:.2f}×"]
    print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
