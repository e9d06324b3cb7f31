#!/usr/bin/env python3
"""Median CPU time (user + system, from getrusage) of whole processes, run
interleaved so that a busy machine slows every command alike.

    scripts/bench/cpu-interleaved.py RUNS LABEL CMD... ';;' LABEL CMD... [';;' ...]

Each round runs every command once, in order; the report gives each label's
median over RUNS rounds in ms and its ratio to the first command's (the
reference, e.g. `khc check` of the same project). Words of a command of the
form NAME=VALUE with NAME in capitals are set in its environment. Output of
the commands is discarded. Example (a fleet written by the fleet bench's
--write-workspaces, and a manifest of one Deployment per tenant):

    scripts/bench/cpu-interleaved.py 15 check target/release/khc check WS ';;' \\
        base /tmp/khc-base eval apps.yaml -p WS ';;' new target/release/khc eval apps.yaml -p WS
"""
import os
import resource
import statistics
import subprocess
import sys


def main() -> None:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    commands = [c.split() for c in " ".join(sys.argv[2:]).split(";;")]
    times: dict[str, list[float]] = {c[0]: [] for c in commands}
    for _ in range(runs):
        for label, *words in commands:
            env = dict(os.environ)
            assigned = [w for w in words if "=" in w and w.split("=", 1)[0].isupper()]
            env.update(w.split("=", 1) for w in assigned)
            args = [w for w in words if w not in assigned]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[label].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    reference = statistics.median(times[commands[0][0]])
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:16s} {median * 1000:8.1f} ms  ×{median / reference:.3f}")


if __name__ == "__main__":
    main()
