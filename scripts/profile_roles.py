#!/usr/bin/env python3
"""Name the processes of a whole-machine CPU profile by their role, for bench-cluster.sh.

Usage: profile_roles.py PROCS FOLDED_WITH_PIDS OUT_FOLDED OUT_TXT

PROCS is `ps -eo pid,args` of the kintsugi processes; FOLDED_WITH_PIDS is the output of
`inferno-collapse-perf --pid` (each stack's root is `<thread name>-<pid>`). Writes the stacks
with each root replaced by the process's role (gateway, storage n1, bench client, or
"other: <thread name>"), and a summary: the share of CPU samples per role and, for each
kintsugi role, its functions with the most samples of their own (leaf frames).
"""
import collections
import re
import sys


def role_of(args):
    words = args.split()
    if len(words) < 2:
        return None
    cmd = words[1]
    if cmd == "storage" and "--name" in words:
        return "storage " + words[words.index("--name") + 1]
    if cmd == "gateway" and "--name" in words:
        return "gateway " + words[words.index("--name") + 1]
    return {"server": "embedded server", "bench": "bench client"}.get(cmd, cmd)


def main():
    procs_path, folded_path, out_folded, out_txt = sys.argv[1:5]
    roles = {}
    for line in open(procs_path):
        pid, _, args = line.strip().partition(" ")
        role = role_of(args)
        if pid.isdigit() and role:
            roles[pid] = role
    total = 0
    per_role = collections.Counter()
    leaves = collections.defaultdict(collections.Counter)
    with open(out_folded, "w") as out:
        for line in open(folded_path):
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            root, _, rest = stack.partition(";")
            m = re.match(r"^(.*)-(\d+)$", root)
            thread, pid = (m.group(1), m.group(2)) if m else (root, "")
            role = roles.get(pid, "other: " + thread)
            total += n
            per_role[role] += n
            leaf = rest.rsplit(";", 1)[-1] if rest else thread
            leaves[role][leaf] += n
            out.write(f"{role};{rest} {n}\n" if rest else f"{role} {n}\n")
    with open(out_txt, "w") as out:
        out.write(f"# CPU samples per role ({total} samples, both cores)\n")
        for role, n in per_role.most_common():
            if n * 200 >= total:
                out.write(f"{100 * n / total:6.1f}%  {role}\n")
        for role, _ in per_role.most_common():
            if role.startswith("other") or per_role[role] * 50 < total:
                continue
            out.write(f"\n# {role}: functions with the most samples of their own (% of all samples)\n")
            for leaf, n in leaves[role].most_common(12):
                out.write(f"{100 * n / total:6.1f}%  {leaf[:150]}\n")


if __name__ == "__main__":
    main()
