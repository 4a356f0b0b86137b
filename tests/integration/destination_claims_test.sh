#!/usr/bin/env bash
# Which resource a redirected destination belongs to, and name resolution that never holds an
# event loop, for real: PostgreSQL, the sidecar, iptables REDIRECT, a DNS server that never
# answers and a hosts file, all in a network (and mount) namespace this test creates.
# - Two resources claiming one address:port by different spellings (localhost and 127.0.0.1)
#   refuse the policy at load and at reload (the current policy stays).
# - With unknownDestination: passthrough, a job dialling the database's own upstream address
#   gets the resource (masked), not a raw relay.
# - A session whose upstream name does not resolve (blackholed DNS) does not stall another
#   session on the same worker; a reload that resolves such a name does not stall the main
#   loop; an upstream name is tried on all its addresses; a DNS change (the hosts file) is
#   seen by upstream connections and by the mapping of redirected connections.
# Needs root; exits 77 (skipped) without it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${TOLLGATE_BIN_DIR:-$ROOT/build/bin}
. "$ROOT/tests/support/netns.sh"
netns_require iptables unshare
netns_setup claims

# Everything below runs inside the namespace, in a mount namespace of its own: /etc/resolv.conf
# points at a DNS server that never answers, /etc/hosts is the test's.
inns unshare -m bash -s "$ROOT" "$BIN" "$WORK" <<'INNER'
set -euo pipefail
ROOT=$1 BIN=$2 WORK=$3
printf 'nameserver 127.0.0.53\noptions timeout:3 attempts:1\n' > "$WORK/resolv.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$WORK/hosts"
chmod 644 "$WORK/resolv.conf" "$WORK/hosts"
mount --make-rprivate /
mount --bind "$WORK/resolv.conf" /etc/resolv.conf
mount --bind "$WORK/hosts" /etc/hosts
. "$ROOT/tools/lib/pgtemp.sh"
SIDECAR=
stop_sidecar() {
  [ -n "$SIDECAR" ] && kill "$SIDECAR" 2>/dev/null && wait "$SIDECAR" 2>/dev/null || true
  SIDECAR=
}
trap 'stop_sidecar; pgtemp_stop' EXIT
pgtemp_start "$WORK/pg"
pgtemp_psql -c "CREATE ROLE app LOGIN PASSWORD 'app-pw'" -c "CREATE DATABASE payments OWNER app" \
  -c "CREATE ROLE direct LOGIN" -c "GRANT app TO direct"
PGT_DB=payments pgtemp_psql -c "SET ROLE app" \
  -c "CREATE TABLE cards (id int, pan text)" \
  -c "INSERT INTO cards VALUES (1, '4111111111111111')"
# `direct` may log in without a password: what a raw relay to the database would let through.
sed -i '1i host all direct 127.0.0.1/32 trust' "$WORK/pg/data/pg_hba.conf"
pgtemp_as_owner "$PGT_BIN/pg_ctl" -D "$WORK/pg/data" reload >/dev/null
echo "app:app-pw" > "$WORK/cred"
chmod 644 "$WORK/cred"

# KEEP_GOING=1 runs every check even after one failed (to see which checks a change breaks).
PASSED=0 FAILED=0 CHECK_FAILED=0
fail() {
  echo "FAIL: $*"
  [ -f "$WORK/sidecar.log" ] && tail -20 "$WORK/sidecar.log"
  FAILED=$((FAILED + 1)) CHECK_FAILED=1
  [ -n "${KEEP_GOING:-}" ] || exit 1
}
ok() {  # ends a check: passed unless it failed on the way
  [ "$CHECK_FAILED" = 0 ] && { echo "ok: $*"; PASSED=$((PASSED + 1)); }
  CHECK_FAILED=0
}
# start_sidecar CONFIG: starts it, waits until it says it started or exits; 0 when it started.
start_sidecar() {
  : > "$WORK/sidecar.log"
  "$BIN/tollgate-sidecar" --config "$1" 2>"$WORK/sidecar.log" &
  SIDECAR=$!
  for _ in $(seq 100); do
    grep -q "sidecar started" "$WORK/sidecar.log" && return 0
    kill -0 "$SIDECAR" 2>/dev/null || { wait "$SIDECAR" || true; SIDECAR=; return 1; }
    sleep 0.1
  done
  fail "the sidecar neither started nor exited"
}
reload() {  # reload POLICY_TEXT_FILE: copies it over the policy file and sends SIGHUP
  cp "$1" "$WORK/policy.yaml"
  kill -HUP "$SIDECAR"
}
count_log() { grep -c -- "$1" "$WORK/sidecar.log" || true; }
wait_log() {  # wait_log TEXT N: until TEXT is logged N times (10 s)
  for _ in $(seq 100); do [ "$(count_log "$1")" -ge "$2" ] && return 0; sleep 0.1; done
  return 1
}
# psql as `nobody` (the nat rules redirect only other uids than the sidecar's, root).
job_psql() {
  runuser -u nobody -- psql -X -At "host=$1 port=$2 user=$3 dbname=payments sslmode=disable connect_timeout=5" \
    -c "SELECT pan FROM cards" 2>&1
}

resource() {  # resource NAME PROTOCOL UPSTREAM_HOST UPSTREAM_PORT MATCH_HOSTS MATCH_PORTS
  if [ "$2" = postgres ]; then
    cat <<R
  - name: $1
    protocol: postgres
    upstream: {host: $3, port: $4, tls: verify-full, ca: $PGT_CA, serverName: localhost}
    credentials: {file: $WORK/cred}
    database: payments
    match: {hosts: [$5], ports: [$6]}
R
  else
    cat <<R
  - name: $1
    protocol: tcp
    upstream: {host: $3, port: $4}
    match: {hosts: [$5], ports: [$6]}
R
  fi
}
tail_policy() {
  cat <<R
access:
  - {name: ci, subjects: [{serviceAccount: "ci/*"}], resources: ["*"], role: read}
masking:
  rules:
    - {name: pan, detector: pan, action: {type: pci, keepFirst: 6, keepLast: 4}}
R
}

# --- 1. One destination, two spellings: refused at load ------------------------------------
{
  echo "version: 1"
  echo "defaults: {unknownDestination: passthrough}"
  echo "resources:"
  resource payments-db postgres 127.0.0.1 "$PGT_PORT" "127.0.0.6" 5432
  resource payments-by-name postgres 127.0.0.1 "$PGT_PORT" "localhost" 5433
  resource legacy-raw tcp 127.0.0.9 "$PGT_PORT" '"127.0.0.1"' 5433
  tail_policy
} > "$WORK/collide.yaml"
cat > "$WORK/sidecar.yaml" <<CFG
policy: $WORK/policy.yaml
events: $WORK/events.jsonl
transparent: {address: 127.0.0.1, port: 15001}
identity: {subject: "system:serviceaccount:ci:job"}
admin: {port: 0}
CFG
cp "$WORK/collide.yaml" "$WORK/policy.yaml"
if start_sidecar "$WORK/sidecar.yaml"; then
  stop_sidecar
  fail "a policy whose resources claim 127.0.0.1:5433 twice (localhost, 127.0.0.1) was loaded"
else
  grep -q "two resources claim one destination: destination 127.0.0.1:5433 is already claimed by resource 'payments-by-name' (match.hosts localhost); resource 'legacy-raw' (match.hosts 127.0.0.1) claims it too" \
    "$WORK/sidecar.log" || fail "the refusal at load does not name both resources and the address"
fi
ok "localhost:5433 and 127.0.0.1:5433 in two resources: the sidecar refuses the policy at load"
# The same collision written as two literals is caught offline already.
sed 's/"127.0.0.1"\], ports: \[5433\]/"::ffff:127.0.0.1"], ports: [5433]/; s/\[localhost\], ports: \[5433\]/[127.0.0.1], ports: [5433]/' \
  "$WORK/collide.yaml" > "$WORK/collide-literal.yaml"
if out=$("$BIN/tollgatectl" policy check "$WORK/collide-literal.yaml" 2>&1); then
  fail "tollgatectl policy check accepted 127.0.0.1 and ::ffff:127.0.0.1 in two resources: $out"
fi
echo "$out" | grep -q "destination 127.0.0.1:5433 is already claimed by resource 'payments-by-name'" ||
  fail "policy check does not name the collision: $out"
ok "127.0.0.1 and ::ffff:127.0.0.1: tollgatectl policy check refuses it"

# --- 2. Passthrough: the upstream's own address is the resource; a collision at reload -----
{
  echo "version: 1"
  echo "defaults: {unknownDestination: passthrough}"
  echo "resources:"
  resource payments-db postgres 127.0.0.1 "$PGT_PORT" "127.0.0.5" 5432
  tail_policy
} > "$WORK/base.yaml"
cp "$WORK/base.yaml" "$WORK/policy.yaml"
start_sidecar "$WORK/sidecar.yaml" || fail "the sidecar did not start with the base policy"
for dst in 127.0.0.5:5432 "127.0.0.1:$PGT_PORT"; do
  iptables -t nat -A OUTPUT -p tcp -d "${dst%:*}" --dport "${dst#*:}" -m owner ! --uid-owner 0 \
    -j REDIRECT --to-ports 15001
done
out=$(job_psql 127.0.0.5 5432 job) || fail "query through the match address: $out"
[ "$out" = "411111******1111" ] || fail "expected the masked PAN at 127.0.0.5:5432, got: $out"
out=$(job_psql 127.0.0.1 "$PGT_PORT" direct) || fail "query to the upstream address: $out"
[ "$out" = "411111******1111" ] ||
  fail "a job dialling the database's own address 127.0.0.1:$PGT_PORT got: $out (a raw relay?)"
ok "passthrough: a job dialling payments-db's upstream address gets payments-db, masked"
reload "$WORK/collide.yaml"
wait_log "policy reload failed; keeping the current policy" 1 ||
  fail "the reload of a policy claiming 127.0.0.1:5433 twice was not refused"
grep "policy reload failed" "$WORK/sidecar.log" |
  grep -q "127.0.0.1:5433 is already claimed by resource 'payments-by-name' (match.hosts localhost); resource 'legacy-raw'" ||
  fail "the refused reload does not name both resources and the address"
out=$(job_psql 127.0.0.5 5432 job) || fail "after the refused reload, 127.0.0.5:5432: $out"
[ "$out" = "411111******1111" ] || fail "after the refused reload expected the old policy, got: $out"
[ "$(count_log 'policy loaded file=')" -le 1 ] || fail "the colliding policy was loaded"
ok "the colliding reload is refused and the current policy stays"
stop_sidecar
iptables -t nat -F OUTPUT

# --- 3. Names: no loop waits for DNS ------------------------------------------------------
/usr/bin/python3 - <<'PY' &
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.53", 53))
while True: s.recvfrom(4096)  # a DNS server that never answers
PY
DNS=$!
{
  echo "version: 1"
  echo "resources:"
  resource payments-db postgres 127.0.0.1 "$PGT_PORT" "127.0.0.5" 5432
  resource named-db postgres stall.test "$PGT_PORT" "127.0.0.66" 5432
  tail_policy
} > "$WORK/stall.yaml"
sed 's/hosts: \[127.0.0.66\]/hosts: [127.0.0.66, stall2.test]/' "$WORK/stall.yaml" > "$WORK/stall2.yaml"
cp "$WORK/stall.yaml" "$WORK/policy.yaml"
cat > "$WORK/sidecar-stall.yaml" <<CFG
policy: $WORK/policy.yaml
events: $WORK/events.jsonl
identity: {subject: "system:serviceaccount:ci:job"}
admin: {port: 0}
listeners:
  - {address: 127.0.0.1, port: 6432, resource: payments-db}
  - {address: 127.0.0.1, port: 6434, resource: named-db}
CFG
start_sidecar "$WORK/sidecar-stall.yaml" || fail "the sidecar did not start with stall.yaml"
sleep 5.5  # the failed lookup of stall.test at load is remembered 5 s: B's is a fresh one
cat > "$WORK/stall.py" <<'PY'
# A streams a paced result from 6432 and records the longest pause between reads while B, on
# the same worker, waits for a resource whose upstream name DNS does not answer (6434); three
# more clients ask for that resource and hang up before the answer.
import socket, struct, threading, time
def startup(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    p = b"user\0job\0database\0payments\0\0"
    s.sendall(struct.pack("!ii", 8 + len(p), 196608) + p)
    return s
def query(sql):
    q = sql.encode() + b"\0"
    return b"Q" + struct.pack("!i", 4 + len(q)) + q
a = startup(6432)
buf = b""
while b"Z\0\0\0\x05I" not in buf:
    d = a.recv(65536)
    if not d: raise SystemExit("A: no login")
    buf += d
a.sendall(query("SELECT g, repeat('y', 1000), pg_sleep(0.005) FROM generate_series(1, 2000) g"))
b = {}
def other():
    time.sleep(1)
    s = startup(6434)
    b["start"] = time.time()
    d = s.recv(4096)
    b["end"] = time.time()
    b["answer"] = d
threading.Thread(target=other, daemon=True).start()
def hangup():  # asks for the same name, and is gone before the answer comes
    time.sleep(1.2)
    for _ in range(3):
        s = startup(6434)
        time.sleep(0.1)
        s.close()
threading.Thread(target=hangup, daemon=True).start()
last = time.time(); worst = 0.0; last_data = 0.0
while True:
    d = a.recv(65536)
    now = time.time()
    if "start" in b and "end" not in b: worst = max(worst, now - last)
    last = now
    if not d: break
    last_data = now
    if d.endswith(b"Z\0\0\0\x05I"): break
    if now - b.get("start", now) > 20: break
for _ in range(100):
    if "end" in b: break
    time.sleep(0.1)
print("b_wait\t%.2f" % (b.get("end", 0) - b.get("start", 0)))
print("b_answer\t%r" % b.get("answer", b"")[:200])
print("a_worst_pause_while_b_waited\t%.2f" % worst)
print("a_streamed_after_b\t%d" % (last_data > b.get("end", 1e18)))
PY
report=$(/usr/bin/python3 "$WORK/stall.py") || fail "stall.py: $report"
echo "$report"
field() { echo "$report" | awk -F'\t' -v k="$1" '$1 == k {print $2}'; }
echo "$(field b_answer)" | grep -q "cannot reach resource named-db: cannot resolve stall.test" ||
  fail "B did not get the resolver's failure"
awk -v w="$(field b_wait)" 'BEGIN {exit !(w >= 2)}' || fail "B did not wait for DNS (the scenario did not happen)"
[ "$(field a_streamed_after_b)" = 1 ] || fail "A's result ended before B's answer: inconclusive"
awk -v w="$(field a_worst_pause_while_b_waited)" 'BEGIN {exit !(w < 1.0)}' ||
  fail "session A stalled $(field a_worst_pause_while_b_waited) s while B's upstream name was looked up"
ok "a lookup DNS does not answer ($(field b_wait) s) does not stall another session on the worker (longest pause $(field a_worst_pause_while_b_waited) s)"
kill -0 "$SIDECAR" 2>/dev/null || fail "the sidecar died when the lookup of clients that hung up ended"
[ "$(count_log 'session ended.*cannot resolve stall.test')" -eq 1 ] ||
  fail "the answer reached sessions whose clients had hung up"
ok "the answer of a lookup whose clients hung up meanwhile touches none of them"
# A reload that needs a name DNS does not answer: the main loop keeps accepting meanwhile.
loaded=$(count_log 'policy loaded file=')
reload "$WORK/stall2.yaml"
sleep 0.2
t0=$(date +%s.%N)
out=$(psql -X -At "host=127.0.0.1 port=6432 user=job dbname=payments sslmode=disable connect_timeout=10" \
  -c "SELECT pan FROM cards" 2>&1) || fail "query during the reload: $out"
t1=$(date +%s.%N)
[ "$out" = "411111******1111" ] || fail "during the reload expected the masked PAN, got: $out"
awk -v a="$t0" -v b="$t1" 'BEGIN {exit !(b - a < 1.5)}' ||
  fail "a connection waited $(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}') s while a reload looked up a name"
wait_log 'policy loaded file=' $((loaded + 1)) || fail "the reload with stall2.test was never installed"
grep -q "a host name of the policy does not resolve.*stall2.test" "$WORK/sidecar.log" ||
  fail "the name that does not resolve was not logged"
ok "a reload resolving a name DNS does not answer leaves the main loop serving"
stop_sidecar
kill "$DNS" 2>/dev/null || true

# --- 4. Every address of a name, and DNS changes (the hosts file) ---------------------------
# pg.fallback.test: ::1 first (nothing listens there), then 127.0.0.1 (PostgreSQL).
printf '127.0.0.1 localhost\n::1 localhost\n::1 pg.fallback.test\n127.0.0.1 pg.fallback.test\n127.0.0.21 moving.test\n' > "$WORK/hosts"
getent ahosts pg.fallback.test | head -1 | grep -q '^::1' || fail "::1 does not come first: $(getent ahosts pg.fallback.test)"
/usr/bin/python3 - <<'PY' &
# A TCP server per address that says which it is.
import socket, threading
def serve(host, tag):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 9000)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(tag); c.close()
for h, t in (("127.0.0.21", b"A"), ("127.0.0.22", b"B")):
    threading.Thread(target=serve, args=(h, t), daemon=True).start()
threading.Event().wait()
PY
SERVERS=$!
{
  echo "version: 1"
  echo "resources:"
  resource fallback-db postgres pg.fallback.test "$PGT_PORT" "127.0.0.67" 5432
  resource moving tcp moving.test 9000 "moving.test" 9000
  tail_policy
} > "$WORK/policy.yaml"
cat > "$WORK/sidecar-dns.yaml" <<CFG
policy: $WORK/policy.yaml
events: $WORK/events.jsonl
transparent: {address: 127.0.0.1, port: 15001}
identity: {subject: "system:serviceaccount:ci:job"}
admin: {port: 0}
dnsRefreshSeconds: 1
listeners:
  - {address: 127.0.0.1, port: 6435, resource: fallback-db}
  - {address: 127.0.0.1, port: 6436, resource: moving}
CFG
for _ in $(seq 50); do
  [ "$(/usr/bin/python3 -c 'import socket; print(socket.create_connection(("127.0.0.21", 9000)).recv(1).decode())' 2>/dev/null)" = A ] && break
  sleep 0.1
done
start_sidecar "$WORK/sidecar-dns.yaml" || fail "the sidecar did not start with the hosts-file policy"
out=$(psql -X -At "host=127.0.0.1 port=6435 user=job dbname=payments sslmode=disable connect_timeout=10" \
  -c "SELECT pan FROM cards" 2>&1) || fail "fallback-db (::1 refused, then 127.0.0.1): $out"
[ "$out" = "411111******1111" ] || fail "fallback-db: expected the masked PAN, got: $out"
ok "an upstream name is tried on each of its addresses: [::1] refused, 127.0.0.1 answered"
iptables -t nat -A OUTPUT -p tcp -d 127.0.0.22 --dport 9000 -m owner ! --uid-owner 0 \
  -j REDIRECT --to-ports 15001
dial() { runuser -u nobody -- /usr/bin/python3 -c "import socket,sys; s=socket.create_connection(('$1', $2), timeout=5); print(s.recv(16).decode() or 'closed')" 2>&1 || true; }
[ "$(dial 127.0.0.1 6436)" = A ] || fail "moving.test: expected server A first"
[ "$(dial 127.0.0.22 9000)" = closed ] || fail "127.0.0.22:9000 is nobody's yet and must be refused"
printf '127.0.0.1 localhost\n::1 localhost\n::1 pg.fallback.test\n127.0.0.1 pg.fallback.test\n127.0.0.22 moving.test\n' > "$WORK/hosts"
got=
for _ in $(seq 100); do
  got="$(dial 127.0.0.1 6436) $(dial 127.0.0.22 9000)"
  [ "$got" = "B B" ] && break
  sleep 0.1
done
[ "$got" = "B B" ] || fail "after moving.test moved to 127.0.0.22: got '$got' (upstream, redirected)"
ok "a DNS change is seen by the upstream connection and by the mapping of redirected connections"
stop_sidecar
kill "$SERVERS" 2>/dev/null || true

# --- 5. A passthrough relay to an address a name moves to ends (review, session 24) -----------
# Under passthrough, a connection to an address no resource claims is relayed raw. Once a
# resource's name resolves to that address, a relay opened before must end at the refresh, not
# go on carrying the resource's data unmasked.
/usr/bin/python3 - <<'PY' &
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.23", 9001)); s.listen(16)
def hold(c):  # echoes until the other side closes
    while True:
        data = c.recv(4096)
        if not data: break
        c.sendall(data)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=hold, args=(c,), daemon=True).start()
PY
HOLDER=$!
printf '127.0.0.1 localhost\n::1 localhost\n127.0.0.24 late.test\n' > "$WORK/hosts"
{
  echo "version: 1"
  echo "defaults: {unknownDestination: passthrough}"
  echo "resources:"
  resource late tcp late.test 9001 "late.test" 9001
  tail_policy
} > "$WORK/policy.yaml"
sed 's/^listeners:.*//; /resource: fallback-db\|resource: moving/d' "$WORK/sidecar-dns.yaml" > "$WORK/sidecar-late.yaml"
iptables -t nat -A OUTPUT -p tcp -d 127.0.0.23 --dport 9001 -m owner ! --uid-owner 0 \
  -j REDIRECT --to-ports 15001
for _ in $(seq 50); do
  /usr/bin/python3 -c 'import socket; socket.create_connection(("127.0.0.23", 9001)).close()' 2>/dev/null && break
  sleep 0.1
done
start_sidecar "$WORK/sidecar-late.yaml" || fail "the sidecar did not start with the passthrough policy"
runuser -u nobody -- /usr/bin/python3 - <<'PY' > "$WORK/late.out" 2>&1 &
import socket, time
s = socket.create_connection(("127.0.0.23", 9001), timeout=15)
s.sendall(b"ping\n")
print("before:", s.recv(16).decode().strip(), flush=True)
start = time.time()
try:
    while time.time() - start < 12:
        s.sendall(b"x")
        if not s.recv(16):
            print("ended", flush=True)
            break
        time.sleep(0.1)
    else:
        print("still relaying", flush=True)
except OSError as e:
    print("ended:", e, flush=True)
PY
JOB=$!
for _ in $(seq 100); do grep -q "before:" "$WORK/late.out" && break; sleep 0.1; done
grep -q "before: ping" "$WORK/late.out" || fail "no passthrough relay to 127.0.0.23:9001: $(cat "$WORK/late.out")"
# late.test moves to the address this relay goes to.
printf '127.0.0.1 localhost\n::1 localhost\n127.0.0.23 late.test\n' > "$WORK/hosts"
wait "$JOB" || true
grep -q "^ended" "$WORK/late.out" ||
  fail "a raw relay to an address late.test moved to kept relaying: $(cat "$WORK/late.out")"
ok "a passthrough relay ends once a resource's name resolves to its destination"
stop_sidecar
kill "$HOLDER" 2>/dev/null || true

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
INNER
