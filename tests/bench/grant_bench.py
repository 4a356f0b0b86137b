#!/usr/bin/python3
# Grant latency benchmark: p50/p99/mean of a grant request end to end (gRPC + TLS, real process).
"""Usage: tests/bench/grant_bench.py [BUILD_DIR]   (tests/bench/run calls run_grant())

Runs build/bench/grant_bench, which starts tollgate-controlplane (SQLite store, TLS, JWKS files
for keys it generates) from the same build in a temp dir, measures N sequential requests per
case after a warm-up, and stops it. Prints one table.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
N = int(os.environ.get("TOLLGATE_GRANT_BENCH_N", "500"))

CASES = {
    "BM_HumanRequestNewGrant": ("human GrantService.Request", "new grant"),
    "BM_StreamNewGrant": ("workload stream GrantRequest", "new grant (fresh pod)"),
    "BM_StreamHeldGrant": ("workload stream GrantRequest", "already held"),
}


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(rows):
    header = ["request", "grant", "samples", "p50 us", "p99 us", "mean us", "max us", "note"]
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    out = [f"Grant latency (tollgate-controlplane process, SQLite store; gRPC over TLS on "
           f"loopback; {N} sequential requests per case after 50 warm-up; request to reply, "
           "microseconds, nearest-rank percentiles)",
           line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    out.append("(a new grant is stored in state.db and audited in audit.db, both SQLite WAL "
               "synchronous=FULL, before the reply; people's requests always issue a new grant, "
               "a workload's repeat request for a grant it holds is answered from memory)")
    return "\n".join(out)


def run_grant(build_dir):
    """Runs the grant latency cases; returns (table text, raw rows)."""
    exe = os.path.join(build_dir, "bench", "grant_bench")
    if not os.access(exe, os.X_OK):
        return f"(no {exe}: build target grant_bench)", []
    print("[bench] grant latency benchmark (human request, sidecar stream)", file=sys.stderr)
    try:
        r = subprocess.run([exe, "--benchmark_format=json"], capture_output=True, text=True,
                           timeout=900, env=dict(os.environ, TOLLGATE_GRANT_BENCH_N=str(N)))
    except subprocess.TimeoutExpired:
        return "(grant_bench timed out after 900 s)", []
    try:
        benches = json.loads(r.stdout)["benchmarks"]
    except (ValueError, KeyError):
        return f"(grant_bench exit {r.returncode}) {r.stderr[-800:]}", []
    rows, lines = [], []
    for b in benches:
        name = b["name"].split("/")[0]
        what, kind = CASES.get(name, (name, ""))
        row = {"case": name, "request": what, "grant": kind,
               "samples": int(b["samples"]) if "samples" in b else 0,
               "p50_us": b.get("p50_us"), "p99_us": b.get("p99_us"),
               "mean_us": b.get("mean_us"), "max_us": b.get("max_us"),
               "error": b.get("error_message")}
        rows.append(row)
        lines.append([what, kind, row["samples"], fmt(row["p50_us"], ".0f"),
                      fmt(row["p99_us"], ".0f"), fmt(row["mean_us"], ".0f"),
                      fmt(row["max_us"], ".0f"), row["error"] or ""])
    return table(lines), rows


if __name__ == "__main__":
    repo = os.path.dirname(os.path.dirname(HERE))
    text, rows = run_grant(sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "build"))
    print(text)
    sys.exit(1 if not rows or any(r["error"] for r in rows) else 0)
