#!/usr/bin/env python3
"""Turn the load generators' output into the table's rows (one JSON object per line on stdout).

  parse.py collect MANIFEST

MANIFEST has one tab-separated line per run: scenario, protocol, target, kind, prefix, note, reference
target, minimum req/s ratio (the last two are passed through for report.py).
  kind wrk     PREFIX.out is wrk --latency output
  kind h2load  PREFIX.out is h2load output, PREFIX.log its --log-file
               (a target served by two instances has PREFIX.part1.out, PREFIX.part2.out, ... instead:
               req/s, requests and errors are added up, p50 is their mean and p99 their maximum)
  kind idle    PREFIX.json is idle.py's output
  kind value   PREFIX.json holds a reference figure measured otherwise: {"rps": ..., "note": ...}
  kind none    nothing ran (the note says why)
PREFIX.partN.bodies, when present, holds how many pre-signed token requests part N had: a run that used
them all stopped early, so its req/s is a lower bound (said in the note).
For wrk/h2load, PREFIX.rss holds the peak RSS in KiB (rss.py) and PREFIX.cpu "START END CLK_TCK", the
proxy's CPU ticks before and after the run. Lines with the same scenario,
protocol and target are repetitions: the row shows the run with the median req/s, the peak RSS over all
runs and the errors summed over all runs.

h2load prints no percentiles, so p50/p99 come from its per-request log (tab-separated: start time µs,
status, duration µs), nearest-rank method. wrk's come from its --latency distribution.
"""
import json
import math
import os
import re
import sys

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def as_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * UNITS_MS[m.group(2)] if m else None


def parse_wrk(out):
    res = {"rps": None, "p50_ms": None, "p99_ms": None, "errors": None, "requests": None, "note": ""}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            res[key] = as_ms(m.group(1))
    m = re.search(r"^\s+(\d+) requests in", out, re.M)
    if m:
        res["requests"] = int(m.group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    if res["rps"] is not None:
        res["errors"] = errors
    else:
        res["note"] = "wrk produced no result"
    return res


def nearest_rank(sorted_values, pct):
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def parse_h2load(out, log_path):
    res = {"rps": None, "p50_ms": None, "p99_ms": None, "errors": None, "requests": None, "note": ""}
    m = re.search(r"finished in [0-9.]+\w*, ([0-9.]+) req/s", out)
    if m:
        res["rps"] = float(m.group(1))
    if "Application protocol: h2" not in out:
        res["note"] = "h2 not negotiated"
        res["rps"] = None
        return res
    durations, bad, unfinished = [], 0, 0
    try:
        with open(log_path) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) < 3:
                    continue
                status, dur_us = int(parts[1]), int(parts[2])
                if 200 <= status < 300:
                    durations.append(dur_us)
                elif status == 0:
                    # No response header before the run stopped (a starved or slow stream). Not an error,
                    # but its time so far is a lower bound of its latency, so it stays in the percentiles.
                    unfinished += 1
                    durations.append(dur_us)
                else:
                    bad += 1  # -1 = failed (h2load docs), or a non-2xx status
    except OSError:
        pass
    durations.sort()
    if durations:
        res["p50_ms"] = nearest_rank(durations, 50) / 1000.0
        res["p99_ms"] = nearest_rank(durations, 99) / 1000.0
    res["requests"] = len(durations) + bad
    failed = 0
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored,"
                  r" (\d+) timeout", out)
    if m:
        failed = int(m.group(1)) + int(m.group(3))
    m = re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    non2xx = sum(int(g) for g in m.groups()) if m else 0
    # The log and the summary count overlapping failures; take the larger so nothing is hidden.
    res["errors"] = max(bad, failed + non2xx)
    if unfinished:
        res["note"] = f"{unfinished} requests unanswered when the run stopped (counted in p50/p99 as lower bounds)"
    m = re.search(r"requests: \d+ total, (\d+) started, (\d+) done", out)
    if m and int(m.group(1)) > 0 and int(m.group(2)) == 0:
        # Streams still open at the end are normal (connections x streams in flight) and h2load logs only
        # finished ones; none finished at all means the responses stalled.
        res["note"] = f"none of the {m.group(1)} requests started finished: responses stalled"
    if res["rps"] is None:
        res["note"] = "h2load produced no result"
    return res


def median(results):
    """Pick the repetition with the median req/s (upper median for even counts); never hide errors."""
    measured = sorted((r for r in results if r.get("rps") is not None), key=lambda r: r["rps"])
    if not measured:
        return dict(results[0])
    chosen = dict(measured[len(measured) // 2])
    chosen["errors"] = sum(r.get("errors") or 0 for r in results)
    if len(results) > 1:
        spread = f"median of {len(results)} runs, req/s {measured[0]['rps']:,.0f}..{measured[-1]['rps']:,.0f}"
        chosen["note"] = "; ".join(n for n in (chosen.get("note", ""), spread) if n)
    return chosen


def read_rss(prefix):
    try:
        with open(prefix + ".rss") as f:
            peak = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        peak = None
    try:
        with open(prefix + ".cpu") as f:
            start, end, tck = (int(x) for x in f.read().split())
        cpu = (end - start) / tck
    except (OSError, ValueError):
        cpu = None
    return peak, cpu


def load_one(kind, prefix):
    try:
        with open(prefix + ".out", errors="replace") as f:
            out = f.read()
    except OSError:
        out = ""
    res = parse_wrk(out) if kind == "wrk" else parse_h2load(out, prefix + ".log")
    try:
        with open(prefix + ".bodies") as f:
            bodies = int(f.read())
        if res["requests"] is not None and res["requests"] >= 0.98 * bodies:
            res["note"] = "; ".join(n for n in (res["note"], f"used all {bodies} pre-signed token requests: "
                                               "req/s is a lower bound (raise TOKEN_RATE_*)") if n)
    except (OSError, ValueError):
        pass
    return res


def add_parts(parts):
    """One row for a target served by several instances, each loaded by its own generator."""
    measured = [p for p in parts if p["rps"] is not None]
    if len(measured) < len(parts):
        return {"rps": None, "p50_ms": None, "p99_ms": None, "errors": None, "requests": None,
                "note": "; ".join(p["note"] for p in parts if p["note"]) or "a load generator produced no result"}
    p50 = [p["p50_ms"] for p in parts if p["p50_ms"] is not None]
    p99 = [p["p99_ms"] for p in parts if p["p99_ms"] is not None]
    return {"rps": sum(p["rps"] for p in parts), "requests": sum(p["requests"] or 0 for p in parts),
            "errors": sum(p["errors"] or 0 for p in parts), "p50_ms": sum(p50) / len(p50) if p50 else None,
            "p99_ms": max(p99) if p99 else None,
            "note": "; ".join([f"{len(parts)} instances, one load generator each (req/s added, p50 mean, "
                               "p99 max)"] + [p["note"] for p in parts if p["note"]])}


def load_run(kind, prefix):
    parts, n = [], 1
    while os.path.exists(f"{prefix}.part{n}.out"):
        parts.append(load_one(kind, f"{prefix}.part{n}"))
        n += 1
    res = add_parts(parts) if parts else load_one(kind, prefix)
    res["rss_kib"], cpu = read_rss(prefix)
    # Proxy CPU time per request: far steadier than req/s when other work shares the machine.
    res["cpu_us_per_req"] = cpu * 1e6 / res["requests"] if cpu is not None and res["requests"] and res["rps"] \
        else None
    return res


def value_run(prefix):
    try:
        with open(prefix + ".json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"note": "reference figure missing"}


def idle_run(prefix):
    try:
        with open(prefix + ".json") as f:
            r = json.load(f)
    except (OSError, ValueError):
        return {"note": "idle client produced no result"}
    want = r["wanted"]
    note = f"{r['opened']}/{want} open, baseline {r['baseline_kib'] / 1024:.1f} MiB"
    if r["failed"]:
        note += f"; {r['failed']} failed: {r['note']}"
    if not r["server_alive"]:
        note += "; server exited"
    return {"errors": want - r["opened"], "rss_kib": r["peak_kib"] if r["opened"] else None, "note": note}


def collect(manifest):
    groups, meta = {}, {}
    with open(manifest) as f:
        for line in f:
            scenario, protocol, target, kind, prefix, note, reference, min_ratio = line.rstrip("\n").split("\t")
            if kind in ("wrk", "h2load"):
                res = load_run(kind, prefix)
            elif kind == "idle":
                res = idle_run(prefix)
            elif kind == "value":
                res = value_run(prefix)
            else:
                res = {}
            res["extra_note"] = note
            groups.setdefault((scenario, protocol, target), []).append(res)
            meta[(scenario, protocol, target)] = {"reference": reference, "min_ratio": min_ratio}
    for (scenario, protocol, target), runs in groups.items():
        chosen = median(runs)
        peaks = [r["rss_kib"] for r in runs if r.get("rss_kib")]
        notes = [chosen.get("note", "")] + sorted({r["extra_note"] for r in runs if r["extra_note"]})
        yield {"scenario": scenario, "protocol": protocol, "target": target,
               "rps": chosen.get("rps"), "p50_ms": chosen.get("p50_ms"), "p99_ms": chosen.get("p99_ms"),
               "errors": chosen.get("errors"), "rss_kib": max(peaks) if peaks else None,
               "cpu_us_per_req": chosen.get("cpu_us_per_req"), "note": "; ".join(n for n in notes if n),
               **meta[(scenario, protocol, target)]}


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "collect":
        sys.exit(__doc__)
    for row in collect(sys.argv[2]):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
