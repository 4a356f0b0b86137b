#!/usr/bin/env bash
# The sidecar's transparent listener behind a real iptables REDIRECT, inside a network
# namespace this test creates: the job dials the database's own address, the nat rule sends it
# to the sidecar, which recovers the original destination (SO_ORIGINAL_DST), maps it to the
# policy resource, and masks; a destination no resource claims is refused. Needs root (netns,
# iptables); exits 77 (skipped) without it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${TOLLGATE_BIN_DIR:-$ROOT/build/bin}
. "$ROOT/tests/support/netns.sh"
netns_require iptables
netns_setup redirect

# Everything below runs inside the namespace: PostgreSQL, the sidecar, the rules, the job.
inns bash -s "$ROOT" "$BIN" "$WORK" <<'INNER'
set -euo pipefail
ROOT=$1 BIN=$2 WORK=$3
. "$ROOT/tools/lib/pgtemp.sh"
trap pgtemp_stop EXIT
pgtemp_start "$WORK/pg"
pgtemp_psql -c "CREATE ROLE app LOGIN PASSWORD 'app-pw'" -c "CREATE DATABASE payments OWNER app"
PGT_DB=payments pgtemp_psql -c "SET ROLE app" \
  -c "CREATE TABLE cards (id int, pan text)" \
  -c "INSERT INTO cards VALUES (1, '4111111111111111')"
echo "app:app-pw" > "$WORK/cred"
# raw-db reaches the same PostgreSQL through a forwarder of its own on 127.0.0.3: a raw (tcp)
# resource may not share a gated resource's upstream, or the job would reach the database
# unmasked through it.
RAW_PORT=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.3",0));print(s.getsockname()[1])')
/usr/bin/python3 - "$RAW_PORT" "$PGT_PORT" <<'FORWARD' &
import socket, sys, threading
def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass
server = socket.create_server(("127.0.0.3", int(sys.argv[1])))
while True:
    client, _ = server.accept()
    upstream = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
FORWARD
cat > "$WORK/policy.yaml" <<POLICY
version: 1
defaults: {unknownDestination: deny}
resources:
  - name: payments-db
    protocol: postgres
    upstream: {host: 127.0.0.1, port: $PGT_PORT, tls: verify-full, ca: $PGT_CA, serverName: localhost}
    credentials: {file: $WORK/cred}
    database: payments
    match: {hosts: [127.0.0.5, "0:0:0::1"], ports: [5432]}
  # A name in match.hosts: resolved when the policy loads (the sidecar sees only IPs).
  - name: payments-by-name
    protocol: postgres
    upstream: {host: 127.0.0.1, port: $PGT_PORT, tls: verify-full, ca: $PGT_CA, serverName: localhost}
    credentials: {file: $WORK/cred}
    database: payments
    match: {hosts: [localhost], ports: [5433]}
  - name: raw-db
    protocol: tcp
    upstream: {host: 127.0.0.3, port: $RAW_PORT}
    match: {hosts: [127.0.0.7], ports: [5432]}
access:
  - {name: ci, subjects: [{serviceAccount: "ci/*"}], resources: [payments-db, payments-by-name],
     role: read}
masking:
  rules:
    - {name: pan, detector: pan, action: {type: pci, keepFirst: 6, keepLast: 4}}
POLICY
cat > "$WORK/sidecar.yaml" <<CFG
policy: $WORK/policy.yaml
events: $WORK/events.jsonl
transparent: {address: 127.0.0.1, port: 15001}
identity: {subject: "system:serviceaccount:ci:job"}
admin: {port: 0}
CFG
"$BIN/tollgate-sidecar" --config "$WORK/sidecar.yaml" 2>"$WORK/sidecar.log" &
SIDECAR=$!
for _ in $(seq 50); do grep -q "sidecar started" "$WORK/sidecar.log" && break; sleep 0.1; done
# The pod's rule: the job's connections to database addresses go to the sidecar.
iptables -t nat -A OUTPUT -p tcp -d 127.0.0.5 --dport 5432 -j REDIRECT --to-ports 15001
iptables -t nat -A OUTPUT -p tcp -d 127.0.0.6 --dport 5432 -j REDIRECT --to-ports 15001
iptables -t nat -A OUTPUT -p tcp -d 127.0.0.7 --dport 5432 -j REDIRECT --to-ports 15001
iptables -t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport 5433 -j REDIRECT --to-ports 15001
ip6tables -t nat -A OUTPUT -p tcp -d ::1 --dport 5432 -j REDIRECT --to-ports 15001
iptables -t nat -S OUTPUT
ip6tables -t nat -S OUTPUT

fail() { echo "FAIL: $*"; cat "$WORK/sidecar.log"; exit 1; }
out=$(psql -X -At "host=127.0.0.5 port=5432 user=job dbname=payments sslmode=disable" \
  -c "SELECT pan FROM cards" 2>&1) || fail "query through the redirect: $out"
[ "$out" = "411111******1111" ] || fail "expected the masked PAN, got: $out"
echo "ok: 127.0.0.5:5432 redirected to the sidecar, mapped to payments-db, masked: $out"
out=$(psql -X -At "host=::1 port=5432 user=job dbname=payments sslmode=disable" \
  -c "SELECT pan FROM cards" 2>&1) || fail "IPv6 query through the redirect: $out"
[ "$out" = "411111******1111" ] || fail "expected the masked PAN over IPv6, got: $out"
echo "ok: [::1]:5432 redirected (ip6tables) to the sidecar, original destination recovered, masked"
out=$(psql -X -At "host=127.0.0.1 port=5433 user=job dbname=payments sslmode=disable" \
  -c "SELECT pan FROM cards" 2>&1) || fail "query to a resource matched by name: $out"
[ "$out" = "411111******1111" ] || fail "expected the masked PAN by name, got: $out"
echo "ok: 127.0.0.1:5433 matched the resource whose match.hosts names localhost"
# A protocol: tcp resource is relayed as raw bytes (to its own forwarder, see above):
# the job speaks to PostgreSQL itself, end to end, with its own password.
out=$(PGPASSWORD=app-pw psql -X -At "host=127.0.0.7 port=5432 user=app dbname=payments sslmode=require" \
  -c "SELECT pan FROM cards" 2>&1) || fail "raw TCP relay: $out"
[ "$out" = "4111111111111111" ] || fail "expected the raw relay to pass bytes through, got: $out"
echo "ok: 127.0.0.7:5432 relayed as raw TCP to a protocol: tcp resource"
if out=$(psql -X -At "host=127.0.0.6 port=5432 user=job dbname=payments sslmode=disable connect_timeout=5" \
    -c "SELECT 1" 2>&1); then
  fail "an unknown destination was let through: $out"
fi
grep -q 'destination 127.0.0.6:5432 matches no resource' "$WORK/sidecar.log" ||
  fail "no refusal logged for 127.0.0.6"
echo "ok: 127.0.0.6:5432 (no resource) refused"
# Events are written in batches (at most 20 ms late): wait for them.
for _ in $(seq 50); do grep -q '"type":"EVENT_CONNECTION_REFUSED"' "$WORK/events.jsonl" && break; sleep 0.1; done
grep -q '"type":"EVENT_CONNECTION_REFUSED"' "$WORK/events.jsonl" || fail "refusal not audited"
grep -q '"upstream":"127.0.0.1:'"$PGT_PORT"'"' "$WORK/events.jsonl" || fail "session not audited"
for _ in $(seq 50); do grep -q '"type":"EVENT_PASSTHROUGH"' "$WORK/events.jsonl" && break; sleep 0.1; done
grep -q '"type":"EVENT_PASSTHROUGH"' "$WORK/events.jsonl" || fail "raw relay not audited"
grep -q 'raw TCP relay started' "$WORK/events.jsonl" || fail "relay start not audited"
grep '"type":"EVENT_PASSTHROUGH"' "$WORK/events.jsonl" | grep -q '"sessionId":"' ||
  fail "relay events without a session id"
echo "ok: both recorded in the events"
# A policy update reaches relays already running: a raw relay to raw-db ends once raw-db has
# left the policy, instead of carrying on until the job hangs up.
PGPASSWORD=app-pw psql -X -At "host=127.0.0.7 port=5432 user=app dbname=payments sslmode=require" \
  -c "SELECT pg_sleep(30)" >"$WORK/long.out" 2>&1 &
LONG=$!
for _ in $(seq 100); do
  [ "$(pgtemp_psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")" = 1 ] && break
  sleep 0.1
done
sed -i '/- name: raw-db/,/match: {hosts: \[127.0.0.7\]/d' "$WORK/policy.yaml"
! grep -q raw-db "$WORK/policy.yaml" || fail "raw-db still in the policy"
kill -HUP "$SIDECAR"
for _ in $(seq 100); do kill -0 "$LONG" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$LONG" 2>/dev/null; then
  kill "$LONG"
  fail "the relay to raw-db outlived its resource"
fi
grep -q 'relay ended by a policy update' "$WORK/sidecar.log" || fail "relay end not logged"
for _ in $(seq 50); do grep -q 'no longer a tcp resource' "$WORK/events.jsonl" && break; sleep 0.1; done
grep -q 'no longer a tcp resource' "$WORK/events.jsonl" || fail "relay end reason not recorded"
echo "ok: a live raw relay ended when its resource left the policy"
echo "1 passed, 0 failed"
INNER
