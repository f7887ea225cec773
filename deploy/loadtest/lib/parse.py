#!/usr/bin/env python3
"""Turn load-generator output into one JSON result line.

  parse.py wrk WRK_STDOUT                      wrk --latency output
  parse.py h2load H2LOAD_STDOUT LOG_FILE       h2load output plus its --log-file
  parse.py median RESULT_JSON...               the run with the median req/s; errors summed over runs
  parse.py row SCENARIO PROTOCOL TARGET RSS_KIB NOTE [RESULT_JSON]
                                               one table row (RESULT_JSON from the above, or none)

Prints {"rps": float|null, "p50_ms": float|null, "p99_ms": float|null, "errors": int|null,
"requests": int|null, "note": str}. h2load prints no percentiles, so p50/p99 come from the per-request
log (tab-separated: start time µs, status (-1 = failed), duration µs), using the nearest-rank method.
"""
import json
import math
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
    if res["rps"] is None:
        res["note"] = "h2load produced no result"
    return res


def median(results):
    """Pick the repetition with the median req/s (upper median for even counts); never hide errors."""
    measured = sorted((r for r in results if r.get("rps") is not None), key=lambda r: r["rps"])
    if not measured:
        return results[0]
    chosen = dict(measured[len(measured) // 2])
    chosen["errors"] = sum(r.get("errors") or 0 for r in results)
    if len(results) > 1:
        spread = f"req/s {measured[0]['rps']:,.0f}..{measured[-1]['rps']:,.0f}"
        chosen["note"] = "; ".join(n for n in (chosen.get("note", ""), f"median of {len(results)} runs, {spread}")
                                   if n)
    return chosen


def row(args):
    scenario, protocol, target, rss_kib, note = args[:5]
    res = json.loads(args[5]) if len(args) > 5 and args[5] else {}
    out = {"scenario": scenario, "protocol": protocol, "target": target}
    for key in ("rps", "p50_ms", "p99_ms", "errors"):
        out[key] = res.get(key)
    out["rss_kib"] = int(rss_kib) if rss_kib.isdigit() and int(rss_kib) > 0 else None
    out["note"] = "; ".join(n for n in (res.get("note", ""), note) if n)
    return out


def main():
    kind = sys.argv[1]
    if kind == "median":
        print(json.dumps(median([json.loads(a) for a in sys.argv[2:]])))
        return
    if kind == "row":
        print(json.dumps(row(sys.argv[2:])))
        return
    with open(sys.argv[2], errors="replace") as f:
        out = f.read()
    res = parse_wrk(out) if kind == "wrk" else parse_h2load(out, sys.argv[3])
    print(json.dumps(res))


if __name__ == "__main__":
    main()
