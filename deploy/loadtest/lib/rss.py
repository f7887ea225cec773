#!/usr/bin/env python3
"""Resident memory of a process tree (a process and all its descendants, e.g. nginx master + workers).

  rss.py now ROOT_PID                  print the tree's current VmRSS sum in KiB
  rss.py sample ROOT_PID OUT [SEC]     sample every SEC (default 0.2) until SIGTERM/SIGINT, then write
                                       the peak VmRSS sum (KiB) to OUT

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


def sample(root, out, interval):
    state = {"stop": False}

    def stop(_signum, _frame):
        state["stop"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    peak = 0
    while not state["stop"]:
        peak = max(peak, tree_rss_kib(root))
        time.sleep(interval)
    peak = max(peak, tree_rss_kib(root))
    with open(out, "w") as f:
        f.write(f"{peak}\n")


def main():
    cmd, root = sys.argv[1], int(sys.argv[2])
    if cmd == "now":
        print(tree_rss_kib(root))
    elif cmd == "sample":
        sample(root, sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 0.2)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
