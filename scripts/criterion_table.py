#!/usr/bin/env python3
"""Turn criterion's stdout (read from stdin) into a markdown table of the
middle throughput estimate per benchmark, in MiB/s."""
import re
import sys

UNITS = {"B/s": 1 / 2**20, "KiB/s": 1 / 2**10, "MiB/s": 1, "GiB/s": 2**10, "TiB/s": 2**20}
name = None
rows = []
for line in sys.stdin:
    line = line.rstrip()
    m = re.match(r"^(\S+/\S+)\s*(time:.*)?$", line)
    if m and not line.startswith(" "):
        name = m.group(1)
    t = re.search(r"thrpt:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if t and name:
        rows.append((name, float(t.group(1)) * UNITS[t.group(2)]))
        name = None
print("| benchmark | MiB/s |")
print("|---|---|")
for n, v in rows:
    print(f"| {n} | {v:,.0f} |")
