#!/usr/bin/env python3
"""Render the load-test results as one table (plain text on stdout, markdown into a file).

  report.py RESULTS_JSONL MACHINE_JSON OUT_MD

Each RESULTS_JSONL line: scenario, protocol, target, rps, p50_ms, p99_ms, errors, rss_kib, cpu_us_per_req,
note (null/"" where not measured), reference (the scenario's reference target) and min_ratio. Every row but
the reference's gets ratios for req/s, p99 and CPU against the reference row of the same scenario and
protocol, and a check:
  min_ratio "issue3": the nginx comparison (issue 3: req/s >= 1.0x and p99 <= 1.2x; issue 2: req/s >= 0.8x)
  min_ratio "idle":   RSS <= 64 MiB with the idle connections open (issue 3)
  min_ratio a number: req/s ratio >= that number
  min_ratio ">=N/s":  req/s >= N (an absolute target, e.g. issue 4's RS384 issuance rate)
  min_ratio "+cpu<=N ms": the target's CPU time per request minus the reference's, in ms, <= N (what a
                      feature costs per response, e.g. issue 5's compartment check of a 1 MB Bundle)
  min_ratio empty:    reported only
The CPU column is the target's own CPU time (all its processes) divided by the requests it served; its
ratio is the noise-resistant one.
"""
import json
import sys

HEAD = ["scenario", "protocol", "target", "req/s", "p50 ms", "p99 ms", "errors", "peak RSS MiB",
        "CPU µs/req", "req/s ratio", "p99 ratio", "CPU ratio", "check"]
RSS_LIMIT_MIB = 64.0


def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:,.{digits}f}"


def times(value):
    return "n/a" if value is None else f"{value:.2f}x"


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def check(row, rps_ratio, p99_ratio, base=None):
    rule = row.get("min_ratio") or ""
    if row["target"] == row.get("reference"):
        return "ref" if rule else ""
    if rule == "idle":
        rss = row.get("rss_kib")
        return "n/a" if rss is None else ("pass" if rss / 1024 <= RSS_LIMIT_MIB else "miss RSS")
    if not rule:
        return ""
    if rule.startswith(">="):
        limit = float(rule[2:].removesuffix("/s"))
        rps = row.get("rps")
        return "n/a" if rps is None else (f"pass (>= {limit:,.0f}/s)" if rps >= limit else f"miss (< {limit:,.0f}/s)")
    if rule.startswith("+cpu<="):
        limit = float(rule[len("+cpu<="):].removesuffix("ms").strip())
        mine, ref = row.get("cpu_us_per_req"), (base or {}).get("cpu_us_per_req")
        if mine is None or ref is None:
            return "n/a"
        extra = (mine - ref) / 1000.0
        return f"{'pass' if extra <= limit else 'miss'} ({extra:+,.1f} ms, <= {limit:g})"
    if rps_ratio is None:
        return "n/a"
    if rule == "issue3":
        if rps_ratio >= 1.0 and p99_ratio is not None and p99_ratio <= 1.2:
            return "pass"
        return "issue-2 only" if rps_ratio >= 0.8 else "miss"
    return f"pass (>= {float(rule):.2f}x)" if rps_ratio >= float(rule) else f"miss (< {float(rule):.2f}x)"


def build_rows(results):
    by_key = {(r["scenario"], r["protocol"], r["target"]): r for r in results}
    rows, notes = [], []
    for r in results:
        base = by_key.get((r["scenario"], r["protocol"], r.get("reference")))
        compared = base is not None and r["target"] != r.get("reference")
        rps_ratio = ratio(r.get("rps"), base.get("rps")) if compared else None
        p99_ratio = ratio(r.get("p99_ms"), base.get("p99_ms")) if compared else None
        cpu_ratio = ratio(r.get("cpu_us_per_req"), base.get("cpu_us_per_req")) if compared else None
        rss = r.get("rss_kib")
        idle = r.get("min_ratio") == "idle"
        rows.append([
            r["scenario"], r["protocol"], r["target"],
            fmt(r.get("rps"), 0), fmt(r.get("p50_ms"), 2), fmt(r.get("p99_ms"), 2),
            fmt(r.get("errors")), fmt(None if rss is None else rss / 1024.0, 1),
            "" if idle else fmt(r.get("cpu_us_per_req"), 0),
            times(rps_ratio) if compared else "", times(p99_ratio) if compared else "",
            times(cpu_ratio) if compared else "",
            check(r, rps_ratio, p99_ratio, base),
        ])
        if r.get("note"):
            notes.append((f"{r['scenario']} / {r['protocol']} / {r['target']}", r["note"]))
    return rows, group_notes(notes)


def group_notes(notes):
    """One line per distinct note text, naming every row it applies to (a missing gateway fills all)."""
    grouped = {}
    for where, text in notes:
        grouped.setdefault(text, []).append(where)
    out = []
    for text, rows in grouped.items():
        out.append(f"{rows[0]}: {text}" if len(rows) == 1 else f"{len(rows)} rows ({rows[0]}, ...): {text}")
    return out


def text_table(rows):
    widths = [max(len(str(x)) for x in col) for col in zip(HEAD, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i >= 3 else str(c).ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(HEAD), line(["-" * w for w in widths])] + [line(r) for r in rows])


def md_table(rows):
    out = ["| " + " | ".join(HEAD) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(HEAD) - 3)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def main():
    with open(sys.argv[1]) as f:
        results = [json.loads(line) for line in f if line.strip()]
    with open(sys.argv[2]) as f:
        machine = json.load(f)
    rows, notes = build_rows(results)
    header = [f"{k}: {v}" for k, v in machine.items()]
    print("\n".join(header))
    print()
    print(text_table(rows))
    if notes:
        print("\nNotes:\n" + "\n".join("  - " + n for n in notes))
    md = ["# pdmp-gateway load test results", ""] + [f"- {h}" for h in header] + ["", md_table(rows)]
    if notes:
        md += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    with open(sys.argv[3], "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
