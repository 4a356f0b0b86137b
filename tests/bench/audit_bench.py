#!/usr/bin/python3
# Audit ingest benchmark: events/s appended with the hash chain, SQLite vs PostgreSQL, by batch.
"""Usage: tests/bench/audit_bench.py [BUILD_DIR]   (tests/bench/run calls run_audit())

Starts a private PostgreSQL 15 (durable settings: fsync and synchronous_commit on, like the
SQLite store's synchronous=FULL) on 127.0.0.1 in a temp dir, runs build/bench/audit_store_bench
against it and the SQLite store, prints one table, and removes everything.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import pg_proxy_bench as pb  # noqa: E402

MIN_TIME = "1.5"  # seconds per case (Google Benchmark --benchmark_min_time)


class DurablePostgres:
    """initdb + pg_ctl in a temp dir with default durability; stop() ends it and removes it."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="tollgate-audit-bench-")
        os.chmod(self.tmp, 0o755)
        self.data = os.path.join(self.tmp, "data")
        self.port = pb.free_port()
        self.started = False

    def as_pg(self, cmd):
        return ["runuser", "-u", "postgres", "--"] + cmd if pb.IS_ROOT else cmd

    def start(self):
        if pb.IS_ROOT:
            shutil.chown(self.tmp, "postgres", "postgres")
        subprocess.run(self.as_pg([f"{pb.PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                                   "-E", "UTF8", "--auth=trust"]),
                       check=True, capture_output=True)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.tmp}'\nshared_buffers = 128MB\n"
                    "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n")
        subprocess.run(self.as_pg([f"{pb.PG_BIN}/pg_ctl", "-D", self.data, "-l",
                                   os.path.join(self.tmp, "pg.log"), "-w", "-t", "60", "start"]),
                       check=True, capture_output=True)
        self.started = True
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres sslmode=disable"

    def stop(self):
        if self.started:
            subprocess.run(self.as_pg([f"{pb.PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast",
                                       "-w", "stop"]), capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_audit(build_dir):
    """Runs the audit ingest cases; returns (table text, raw rows)."""
    exe = os.path.join(build_dir, "bench", "audit_store_bench")
    if not os.access(exe, os.X_OK):
        return f"(no {exe}: build target audit_store_bench)", []
    pg = DurablePostgres()
    try:
        env = dict(os.environ, TOLLGATE_AUDIT_BENCH_PG_DSN=pg.start())
        pb.log("audit ingest benchmark (SQLite, PostgreSQL)")
        r = subprocess.run([exe, f"--benchmark_min_time={MIN_TIME}", "--benchmark_format=json"],
                           capture_output=True, text=True, timeout=600, env=env)
    finally:
        pg.stop()
    if r.returncode != 0:
        return f"(audit_store_bench exit {r.returncode}) {r.stderr[-500:]}", []
    rows = []
    for b in json.loads(r.stdout)["benchmarks"]:
        backend, batch = b["name"].split("/")[0].replace("BM_Append", ""), b["name"].split("/")[1]
        rows.append({"backend": backend.lower(), "batch": int(batch),
                     "events_per_s": b.get("items_per_second"),
                     "ms_per_batch": b["real_time"] / 1e6 if b.get("time_unit") == "ns" else None,
                     "error": b.get("error_message")})
    base = {x["batch"]: x["events_per_s"] for x in rows if x["backend"] == "sqlite"}
    lines = []
    for x in rows:
        ratio = (x["events_per_s"] / base[x["batch"]]
                 if x["events_per_s"] and base.get(x["batch"]) else None)
        lines.append([x["backend"], x["batch"], pb_fmt(x["events_per_s"], ".0f"),
                      pb_fmt(x["ms_per_batch"], ".3f"), pb_fmt(ratio, ".2f"), x["error"] or ""])
    return table(lines), rows


def pb_fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(rows):
    header = ["backend", "batch", "events/s", "ms/batch", "ratio to sqlite", "note"]
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    out = ["Audit ingest (AuditStore::append with PAN scrub, hash chain, checkpoint every 1000, "
           "dedup on; durable commit: SQLite WAL synchronous=FULL, PostgreSQL fsync + "
           "synchronous_commit on, TCP loopback without TLS; one writer)",
           line(header), "  ".join("-" * w for w in widths)]
    return "\n".join(out + [line(r) for r in cells[1:]])


if __name__ == "__main__":
    repo = os.path.dirname(os.path.dirname(HERE))
    text, _ = run_audit(sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "build"))
    print(text)
