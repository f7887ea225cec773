#!/usr/bin/env python3
"""Resident memory of a process tree (a process and all its descendants, e.g. nginx master + workers).

  rss.py now ROOT_PIDS                 print the trees' current VmRSS sum in KiB
  rss.py sample ROOT_PIDS OUT [SEC]    sample every SEC (default 0.2) until SIGTERM/SIGINT, then write
                                       the peak VmRSS sum (KiB) to OUT
ROOT_PIDS is one pid or several separated by commas (two gateway instances count as one target).

The sum of VmRSS over processes counts shared pages once per process, so for nginx (master + workers) it
is an upper bound; for the single-process gateway it is exact.
"""
import os
import signal
import sys
import time


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: ppid is the 2nd field after ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(root):
    kids = children_map()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(kids.get(pid, []))
    return pids


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root):
    return sum(status_kib(pid, "VmRSS") for pid in tree(root))


def roots_rss_kib(roots):
    return sum(tree_rss_kib(root) for root in roots)


def sample(roots, out, interval):
    state = {"stop": False}

    def stop(_signum, _frame):
        state["stop"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    peak = 0
    while not state["stop"]:
        peak = max(peak, roots_rss_kib(roots))
        time.sleep(interval)
    peak = max(peak, roots_rss_kib(roots))
    with open(out, "w") as f:
        f.write(f"{peak}\n")


def main():
    cmd, roots = sys.argv[1], [int(pid) for pid in sys.argv[2].split(",")]
    if cmd == "now":
        print(roots_rss_kib(roots))
    elif cmd == "sample":
        sample(roots, sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 0.2)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
