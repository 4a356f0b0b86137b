# Proxy benchmark parts for tests/bench/run: a real PostgreSQL 15, PgBouncer and the sidecar, plus
# the measurements (pgbench TPS, proxy CPU per query, fixed-rate latency, RSS). Loopback only.
"""Processes and measurements; `run` orchestrates and prints the tables."""

import glob
import math
import os
import random
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Signs workload tokens with keys it makes (standard library + openssl), as the demo does.
DEMO_IDENTITY = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools", "lib",
                             "demo_identity.py")
PG_BIN = "/usr/lib/postgresql/15/bin"
PGBOUNCER = "/usr/sbin/pgbouncer"
CLK_TCK = os.sysconf("SC_CLK_TCK")
IS_ROOT = os.geteuid() == 0
CARD_ROWS = 10000
BIG_QUERY = "select i, '4111111111111111'::text from generate_series(1,1000000) i"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True when a TCP socket listens on `port` (any address), read from /proc/net/tcp{,6}."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def wait_port(port, proc, what, log_file, timeout=30.0):
    """Waits until something listens on `port`; fails early (with the log tail) if proc died.
    It does not connect: a probe connection would run the proxy's session code before the idle
    memory is read (for the sidecar, 1.5 MiB of code and the worker's malloc arena)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log_file)}")
        if listening(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s:\n{tail(log_file)}")


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def proc_status_kb(pid, key):
    """VmRSS / VmHWM etc. of a process in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/{pid}/status")


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def reset_hwm(pid):
    """Resets VmHWM to the current RSS (clear_refs 5, Linux >= 4.0); False if not permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def luhn_card(rng, prefix, length=16):
    """A Luhn-valid card number of `length` digits starting with `prefix`."""
    digits = [int(c) for c in prefix]
    while len(digits) < length - 1:
        digits.append(rng.randrange(10))
    total = 0
    for i, d in enumerate(reversed(digits)):  # the check digit will sit right of these
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


class Target:
    """One way to reach the database: libpq environment plus the pid of the proxy (if any)."""

    def __init__(self, name, port, sslmode, password=None, pid=None, rootcert=None,
                 helper_pid=None, spool_file=None):
        self.name, self.port, self.sslmode = name, port, sslmode
        self.password, self.pid, self.rootcert = password, pid, rootcert
        self.helper_pid = helper_pid  # a process the proxy needs (the control plane), CPU apart
        # The sidecar's audit spool: empty once the control plane has stored every event.
        self.spool_file = spool_file

    def wait_audit_drained(self, timeout=180.0):
        """A run starts once the control plane has stored the previous runs' events: their
        backlog would otherwise count against this run (and its CPU against the next)."""
        if not self.spool_file:
            return
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if os.path.getsize(self.spool_file) == 0:
                    break
            except OSError:
                break
            time.sleep(0.1)
        waited = time.monotonic() - start
        if waited >= 1.0:
            log(f"{self.name}: waited {waited:.0f} s for the control plane to store the previous "
                f"runs' audit events")

    def env(self):
        e = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(self.port), PGUSER="bench",
                 PGDATABASE="bench", PGSSLMODE=self.sslmode, PGCONNECT_TIMEOUT="10",
                 PGAPPNAME="tollgate-bench")
        e.pop("PGPASSWORD", None)
        if self.password:
            e["PGPASSWORD"] = self.password
        if self.rootcert:
            e["PGSSLROOTCERT"] = self.rootcert
        return e


class Stack:
    """PostgreSQL + PgBouncer + sidecar in one temp dir; close() ends them and removes it."""

    def __init__(self, sidecar_bin, scale, baseline_bin=None, relay_bin=None, with_cp=False):
        self.sidecar_bin, self.scale = sidecar_bin, scale
        self.with_cp = with_cp  # target sidecar-cp: the sidecar of a pod, with its control plane
        self.relay_bin = relay_bin  # tests/bench/tcp_relay.cc, target relay-floor
        self.baseline_bin = baseline_bin  # a second sidecar build, target "sidecar-base"
        self.tmp = tempfile.mkdtemp(prefix="tollgate-bench-")
        os.chmod(self.tmp, 0o755)
        if IS_ROOT:
            shutil.chown(self.tmp, "postgres", "postgres")
        self.data = os.path.join(self.tmp, "pgdata")
        self.password = secrets.token_hex(16)
        self.procs = []  # (name, Popen) of long-running children
        self.pg_started = False
        self.targets = {}

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text, mode=0o644):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        if IS_ROOT:
            shutil.chown(p, "postgres", "postgres")
        return p

    def as_pg(self, cmd):
        return ["runuser", "-u", "postgres", "--"] + cmd if IS_ROOT else cmd

    def sh(self, cmd, timeout=300, **kw):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return r.stdout

    # ---- setup -------------------------------------------------------------------------------

    def start(self):
        # A binary linked moments ago has page-cache pages not yet written back; mapped by one
        # process they count in its Private_Dirty, which would then not be what it wrote.
        os.sync()
        self.make_certs()
        self.start_postgres()
        self.load_data()
        self.start_pgbouncer()
        self.start_sidecar()
        if self.baseline_bin:
            self.start_sidecar("sidecar-base", self.baseline_bin)
        if self.relay_bin:
            self.start_relay()
        if self.with_cp:
            self.start_sidecar_cp()

    def make_certs(self):
        ssl = lambda *a: self.sh(["openssl", *a], cwd=self.tmp)  # noqa: E731
        ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tollgate-bench-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
        self.write("server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
        ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
        for f in ("ca.pem", "server.pem", "server.key", "ca.key"):
            if IS_ROOT:
                shutil.chown(self.path(f), "postgres", "postgres")
        os.chmod(self.path("server.key"), 0o600)
        os.chmod(self.path("ca.key"), 0o600)
        self.ca = self.path("ca.pem")

    def start_postgres(self):
        self.pg_port = free_port()
        self.sock = self.path("sock")
        os.mkdir(self.sock)
        if IS_ROOT:
            shutil.chown(self.sock, "postgres", "postgres")
        self.sh(self.as_pg([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "-E", "UTF8",
                            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"]))
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"""
listen_addresses = '127.0.0.1'
port = {self.pg_port}
unix_socket_directories = '{self.sock}'
ssl = on
ssl_cert_file = '{self.path("server.pem")}'
ssl_key_file = '{self.path("server.key")}'
password_encryption = 'scram-sha-256'
max_connections = 60
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
""")
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "hostssl all all 127.0.0.1/32 scram-sha-256\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        self.sh(self.as_pg([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.path("postgres.log"),
                            "-w", "-t", "60", "start"]))
        self.pg_started = True
        self.super_sql(f"create role bench login password '{self.password}'")
        self.super_sql("create database bench owner bench")
        self.targets["direct"] = Target("direct", self.pg_port, "verify-full", self.password,
                                        rootcert=self.ca)
        self.targets["direct-plain"] = Target("direct-plain", self.pg_port, "disable",
                                              self.password)
        log(f"PostgreSQL 15 on 127.0.0.1:{self.pg_port} (TLS on, scram-sha-256)")

    def super_sql(self, sql, db="postgres"):
        return self.sh([f"{PG_BIN}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sock,
                        "-p", str(self.pg_port), "-U", "postgres", "-d", db, "-c", sql])

    def load_data(self):
        log(f"pgbench -i -s {self.scale}")
        self.sh([f"{PG_BIN}/pgbench", "-i", "-q", "-s", str(self.scale), "-h", self.sock,
                 "-p", str(self.pg_port), "-U", "bench", "bench"], timeout=600)
        rng = random.Random(4242)
        rows = []
        for i in range(1, CARD_ROWS + 1):
            prefix = rng.choice(["411111", "550000", "378282", "601100"])
            # American Express numbers have 15 digits; a 16-digit "378282..." is no card number,
            # and the pan detector rightly leaves it in clear.
            pan = luhn_card(rng, prefix, 15 if prefix.startswith("37") else 16)
            rows.append(f"{i}\tholder {i}\t{pan}\t{rng.randrange(100, 1000)}\t"
                        f"{rng.randrange(1, 13):02d}/{rng.randrange(27, 35)}\n")
        self.write("cards.tsv", "".join(rows))
        self.super_sql("create table cards(id int primary key, holder text not null, "
                       "pan text not null, cvv text not null, expiry text not null); "
                       "alter table cards owner to bench", db="bench")
        self.super_sql(f"\\copy cards from '{self.path('cards.tsv')}'", db="bench")
        self.super_sql("vacuum analyze", db="bench")
        self.write("cards.sql", f"\\set id random(1, {CARD_ROWS})\n"
                   "SELECT id, holder, pan, cvv, expiry FROM cards WHERE id = :id;\n")

    def start_pgbouncer(self):
        port = free_port()
        self.write("userlist.txt", f'"bench" "{self.password}"\n', 0o600)
        ini = self.write("pgbouncer.ini", f"""[databases]
bench = host=127.0.0.1 port={self.pg_port} dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.path("userlist.txt")}
pool_mode = session
max_client_conn = 200
default_pool_size = 40
server_tls_sslmode = verify-full
server_tls_ca_file = {self.ca}
ignore_startup_parameters = extra_float_digits
logfile = {self.path("pgbouncer.log")}
pidfile = {self.path("pgbouncer.pid")}
log_connections = 0
log_disconnections = 0
""")
        kw = {"user": "postgres", "group": "postgres", "extra_groups": []} if IS_ROOT else {}
        out = open(self.path("pgbouncer.out"), "w")
        p = subprocess.Popen([PGBOUNCER, ini], stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, **kw)
        self.procs.append(("pgbouncer", p))
        wait_port(port, p, "pgbouncer", self.path("pgbouncer.log"))
        self.targets["pgbouncer"] = Target("pgbouncer", port, "disable", self.password, p.pid)
        log(f"PgBouncer {port}: session pool, upstream TLS verify-full")

    def policy_text(self, credentials):
        return f"""version: 1
resources:
  - name: payments-db
    protocol: postgres
    upstream: {{host: 127.0.0.1, port: {self.pg_port}, tls: verify-full, ca: {self.ca},
               serverName: localhost}}
    credentials: {credentials}
    database: bench
access:
  - name: bench
    subjects: [{{serviceAccount: "bench/*"}}]
    resources: [payments-db]
    role: write
guardrails:
  - {{name: no-ddl, match: {{class: [ddl]}}, action: block}}
masking:
  rules:
    - {{name: pan, detector: pan, action: {{type: pci, keepFirst: 6, keepLast: 4}}}}
    - {{name: cvv, columns: ["cvv"], action: redact}}
"""

    def start_sidecar(self, name="sidecar", binary=None):
        """Starts a sidecar (target `name`, default binary self.sidecar_bin) with the bench policy,
        masking and JSON-lines events on."""
        port = free_port()
        cred = self.write("cred", f"bench:{self.password}\n", 0o600)
        policy = self.write("policy.yaml", self.policy_text(f"{{file: {cred}}}"))
        events = self.path("events.jsonl" if name == "sidecar" else f"events-{name}.jsonl")
        log_path = self.path(f"{name}.log")
        if name == "sidecar":
            self.events, self.sidecar_log = events, log_path
        out = open(log_path, "w")
        p = subprocess.Popen([binary or self.sidecar_bin, "--policy", policy, "--listen",
                              f"127.0.0.1:{port}=payments-db", "--events", events,
                              "--subject", "system:serviceaccount:bench:runner",
                              "--admin-port", "0", "--drain-seconds", "0"],
                             stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((name, p))
        wait_port(port, p, name, log_path)
        self.targets[name] = Target(name, port, "disable", None, p.pid)
        log(f"{name} {port}: masking + events on, upstream TLS verify-full")

    def start_sidecar_cp(self):
        """The production set-up: tollgate-controlplane (embedded SQLite audit store, gRPC over
        TLS) holding the policy and the database password, and a sidecar that proves a pod's
        identity with a signed workload token, gets its grant, credentials and policy over the
        stream, and spools every event to disk before the control plane stores it."""
        cp_bin = os.path.join(os.path.dirname(self.sidecar_bin), "tollgate-controlplane")
        ident = self.path("identity")
        self.sh(["/usr/bin/python3", DEMO_IDENTITY, "init", ident])
        secrets_dir = self.path("secrets")
        os.mkdir(secrets_dir, 0o700)
        with open(os.path.join(secrets_dir, "payments-db"), "w") as f:
            f.write(f"bench:{self.password}\n")
        os.chmod(os.path.join(secrets_dir, "payments-db"), 0o600)
        policy = self.write("policy-cp.yaml", self.policy_text("{secret: payments-db}"))
        grpc_port, admin_port = free_port(), free_port()
        config = self.write("controlplane.yaml", f"""grpc:
  address: 127.0.0.1
  port: {grpc_port}
  tls: {{cert: {self.path("server.pem")}, key: {self.path("server.key")}}}
admin: {{address: 127.0.0.1, port: {admin_port}}}
dataDir: {self.path("cp-data")}
policy: {policy}
credentialsDir: {secrets_dir}
identity:
  issuers:
    - {{issuer: "https://kubernetes.default.svc.cluster.local", kind: workload, audience: tollgate,
       jwksFile: {ident}/k8s-jwks.json}}
""")
        cp_log = self.path("controlplane.log")
        cp = subprocess.Popen([cp_bin, "--config", config], stdout=open(cp_log, "w"),
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(("controlplane", cp))
        wait_port(grpc_port, cp, "tollgate-controlplane", cp_log)
        uid = "6f1c2b7e-3d4a-4b5c-9e8f-0a1b2c3d4e5f"
        token = self.write("pod.token", self.sh(["/usr/bin/python3", DEMO_IDENTITY, "workload",
                                                 ident, "bench", "runner", "bench-pod", uid]),
                           0o600)
        port = free_port()
        log_path = self.path("sidecar-cp.log")
        env = dict(os.environ, POD_NAME="bench-pod", POD_NAMESPACE="bench", POD_UID=uid)
        p = subprocess.Popen([self.sidecar_bin, "--control-plane", f"127.0.0.1:{grpc_port}",
                              "--control-plane-ca", self.ca, "--token-file", token,
                              "--spool-dir", self.path("spool"), "--listen",
                              f"127.0.0.1:{port}=payments-db", "--admin-port", "0",
                              "--drain-seconds", "0"],
                             stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env)
        self.procs.append(("sidecar-cp", p))
        wait_port(port, p, "sidecar-cp", log_path)
        self.targets["sidecar-cp"] = Target("sidecar-cp", port, "disable", None, p.pid,
                                            helper_pid=cp.pid,
                                            spool_file=self.path("spool/events.spool"))
        log(f"sidecar-cp {port}: control plane {grpc_port} (SQLite audit), masking + events on")

    def start_relay(self):
        """The bare byte relay in front of PostgreSQL without TLS: a proxy's CPU floor."""
        port = free_port()
        log_path = self.path("relay.log")
        p = subprocess.Popen([self.relay_bin, str(port), str(self.pg_port)],
                             stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        self.procs.append(("relay-floor", p))
        wait_port(port, p, "relay-floor", log_path)
        self.targets["relay-floor"] = Target("relay-floor", port, "disable", self.password, p.pid)
        log(f"relay-floor {port}: bare epoll relay, no TLS")

    # ---- teardown ----------------------------------------------------------------------------

    def close(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        self.procs.clear()
        if self.pg_started:
            try:
                self.sh(self.as_pg([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w",
                                    "-t", "30", "stop"]), timeout=60)
            except Exception:  # noqa: BLE001 - last resort: the postmaster pid from its file
                try:
                    with open(os.path.join(self.data, "postmaster.pid")) as f:
                        os.kill(int(f.readline()), signal.SIGQUIT)
                except (OSError, ValueError):
                    pass
            self.pg_started = False
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- measurements ----------------------------------------------------------------------------

def psql(target, sql, timeout=60):
    return subprocess.run([f"{PG_BIN}/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
                           "-v", "VERBOSITY=verbose", "-c", sql], env=target.env(),
                          capture_output=True, text=True, timeout=timeout)


def pgbench(stack, target, workload, mode, clients, duration, rate=None, log_prefix=None,
            connects=None):
    """One pgbench run; returns tps, transactions, failures and the proxy's CPU seconds.
    connects=N: N transactions, each on a new connection (-C -t N), instead of -T duration."""
    cmd = [f"{PG_BIN}/pgbench", "-n", "-M", mode, "-c", str(clients),
           "-j", str(min(clients, 2))]
    cmd += ["-C", "-t", str(connects)] if connects else ["-T", str(duration)]
    cmd += ["-S"] if workload == "select-only" else ["-f", stack.path("cards.sql")]
    if rate:
        cmd += ["-R", str(rate)]
    if log_prefix:
        cmd += ["--log", f"--log-prefix={log_prefix}"]
    target.wait_audit_drained()
    cpu0 = cpu_seconds(target.pid) if target.pid else None
    helper0 = cpu_seconds(target.helper_pid) if target.helper_pid else None
    r = subprocess.run(cmd, env=target.env(), capture_output=True, text=True,
                       timeout=(duration or 0) + 120, cwd=stack.tmp)
    cpu1 = cpu_seconds(target.pid) if target.pid else None
    helper1 = cpu_seconds(target.helper_pid) if target.helper_pid else None
    res = {"target": target.name, "workload": workload, "mode": mode, "clients": clients,
           "rc": r.returncode, "tps": None, "txns": 0, "failed": 0, "cpu_s": None}
    m = re.search(r"tps = ([\d.]+) \((without initial connection time|including reconnection "
                  r"times)\)", r.stdout)
    if m:
        res["tps"] = float(m.group(1))
    m = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    if m:
        res["txns"] = int(m.group(1))
    m = re.search(r"average connection time = ([\d.]+) ms", r.stdout)
    res["connect_ms"] = float(m.group(1)) if m else None
    m = re.search(r"number of failed transactions: (\d+)", r.stdout)
    if m:
        res["failed"] = int(m.group(1))
    if cpu0 is not None:
        res["cpu_s"] = cpu1 - cpu0
    if helper0 is not None:
        res["helper_cpu_s"] = helper1 - helper0
    if r.returncode != 0 or res["tps"] is None:
        res["error"] = (r.stderr or r.stdout).strip().splitlines()[-3:]
        log(f"pgbench on {target.name} failed: {res['error']}")
    return res


def latency(stack, target, mode, rate, duration):
    """Fixed-rate run with per-transaction logs: service latency (log time minus schedule lag)
    and latency as pgbench reports it (from the scheduled start, lag included)."""
    prefix = stack.path(f"lat_{target.name}_{mode}")
    res = pgbench(stack, target, "select-only", mode, 1, duration, rate=rate, log_prefix=prefix)
    service, total = [], []
    for path in glob.glob(prefix + ".*"):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 7 or parts[2] == "skipped":
                    continue
                t, lag = float(parts[2]), float(parts[6])
                total.append(t)
                service.append(t - lag)
        os.unlink(path)
    service.sort()
    total.sort()
    res.update(samples=len(service), p50=percentile(service, 50), p99=percentile(service, 99),
               p999=percentile(service, 99.9), p99_total=percentile(total, 99))
    return res


def open_idle(target, n):
    """n psql sessions that have run one query and now sit idle; caller closes them."""
    sessions = []
    for _ in range(n):
        p = subprocess.Popen([f"{PG_BIN}/psql", "-X", "-At"], env=target.env(), text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        sessions.append(p)
        p.stdin.write("select 1;\n")
        p.stdin.flush()
        ready, _, _ = select.select([p.stdout], [], [], 15)
        if not ready or p.stdout.readline().strip() != "1":
            close_idle(sessions)
            raise RuntimeError(f"idle session {len(sessions)} to {target.name} did not open")
    return sessions


def close_idle(sessions):
    for p in sessions:
        try:
            p.stdin.close()
            p.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            p.kill()
            p.wait()


def private_kb(pid):
    """Memory the process wrote (Private_Dirty: heap, stacks, relocated library data), KiB; None
    when /proc/<pid>/smaps_rollup is not readable. It is never shared, whatever else runs; the
    rest of RSS is clean library pages, shared with every process mapping the same files (every
    sidecar of a node running one image)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def memory_idle(target, sessions=8):
    """VmRSS and private memory (KiB) now, and VmRSS with `sessions` idle connections open."""
    rss_idle = proc_status_kb(target.pid, "VmRSS")
    private_idle = private_kb(target.pid)
    conns = open_idle(target, sessions)
    try:
        time.sleep(0.3)
        rss_conns = proc_status_kb(target.pid, "VmRSS")
    finally:
        close_idle(conns)
    return rss_idle, private_idle, rss_conns


def big_result(target, masked):
    """Streams the 1M-row result through the proxy; VmHWM (KiB) before/after, row counts."""
    hwm_reset = reset_hwm(target.pid)
    before = proc_status_kb(target.pid, "VmHWM")
    rss_before = proc_status_kb(target.pid, "VmRSS")
    start = time.monotonic()
    p = subprocess.Popen([f"{PG_BIN}/psql", "-X", "-At", "-c", BIG_QUERY], env=target.env(),
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rows = clear = masked_rows = 0
    for line in p.stdout:
        rows += 1
        value = line.rstrip("\n").split("|", 1)[-1]
        if value == "4111111111111111":
            clear += 1
        elif value.startswith("411111") and value.endswith("1111") and len(value) == 16:
            masked_rows += 1
    err = p.stderr.read()
    p.wait(timeout=120)
    elapsed = time.monotonic() - start
    after = proc_status_kb(target.pid, "VmHWM")
    ok = p.returncode == 0 and rows == 1000000 and (masked_rows == rows if masked else True)
    return {"target": target.name, "hwm_reset": hwm_reset, "hwm_before": before,
            "rss_before": rss_before, "hwm_after": after, "rows": rows, "clear": clear,
            "masked": masked_rows, "seconds": elapsed, "ok": ok, "error": err.strip()[-300:]}


def sanity_checks(stack):
    """Proves the sidecar run had masking, guardrails and events on; list of (check, ok, detail)."""
    sc = stack.targets["sidecar"]
    out = []
    r = psql(sc, "select pan, cvv from cards order by id limit 1")
    direct = psql(stack.targets["direct"], "select pan, cvv from cards order by id limit 1")
    real_pan, real_cvv = direct.stdout.strip().split("|")
    got = r.stdout.strip().split("|") if r.returncode == 0 else ["", ""]
    pan_ok = (len(got) == 2 and got[0] != real_pan and got[0][:6] == real_pan[:6]
              and got[0][-4:] == real_pan[-4:])
    out.append(("PAN masked (pci 6+4)", pan_ok, got[0] if got else r.stderr.strip()))
    out.append(("cvv redacted", len(got) == 2 and got[1] != real_cvv,
                got[1] if len(got) == 2 else ""))
    r = psql(sc, "create table bench_ddl_probe(i int)")
    blocked = r.returncode != 0 and ("42501" in r.stderr or "no-ddl" in r.stderr)
    out.append(("DDL blocked (42501)", blocked, r.stderr.strip().splitlines()[0] if r.stderr else
                "statement succeeded"))
    return out


def event_lines(stack):
    try:
        with open(stack.events, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0
