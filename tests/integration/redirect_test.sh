#!/usr/bin/env bash
# `tollgate-sidecar redirect` for real, in a network namespace this test creates: it runs twice
# and the nat table must come out identical (idempotent) and as documented; then connections
# from a job uid go to the listener on the proxy port while the proxy uid's own connections,
# loopback, excluded ports and excluded CIDRs reach their real destination (IPv4 and, when the
# kernel has it, IPv6); an include list narrows the redirect. Needs root; exits 77 without.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${TOLLGATE_BIN_DIR:-$ROOT/build/bin}
. "$ROOT/tests/support/netns.sh"
netns_require iptables python3
[ -x "$BIN/tollgate-sidecar" ] || { echo "FAIL: $BIN/tollgate-sidecar not built"; exit 1; }
netns_setup redir
ip -n "$NS" link add tg0 type bridge  # an interface to hold non-loopback addresses
ip -n "$NS" link set tg0 up
ip -n "$NS" addr add 10.99.0.1/24 dev tg0
ip -n "$NS" addr add 10.99.1.1/24 dev tg0
HAVE6=0
if ip -n "$NS" addr add fd99::1/64 dev tg0 nodad 2>/dev/null &&
   inns ip6tables -w -t nat -S OUTPUT >/dev/null 2>&1; then
  HAVE6=1
fi

cat > "$WORK/serve.py" <<'PY'
# Answers every connection on each HOST:PORT=TAG with TAG and closes.
import socket, sys, threading
def serve(host, port, tag):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.sendall(tag.encode())
        c.close()
for spec in sys.argv[1:]:
    addr, tag = spec.split("=")
    host, port = addr.rsplit(":", 1)
    threading.Thread(target=serve, args=(host.strip("[]"), port, tag), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY
cat > "$WORK/dial.py" <<'PY'
# dial.py UID HOST PORT: connect as UID and print what the server says (or "error: ...").
import os, socket, sys
import encodings.idna  # loaded before dropping root: the new uid may not read the stdlib
uid, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
os.setgroups([]); os.setgid(uid); os.setuid(uid)
try:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.create_connection((host, port), timeout=3)
    print(s.recv(100).decode())
except OSError as e:
    print("error: %s" % e)
PY

PROXY_UID=15337
JOB_UID=15400
SERVERS=("127.0.0.1:15001=proxy" "10.99.0.1:7000=direct" "10.99.0.1:7001=direct-7001"
         "10.99.0.1:7002=direct-7002" "10.99.1.1:7000=direct-excluded-cidr" "127.0.0.1:7000=loopback")
[ "$HAVE6" = 1 ] && SERVERS+=("[::1]:15001=proxy6" "[fd99::1]:7000=direct6")
inns python3 "$WORK/serve.py" "${SERVERS[@]}" > "$WORK/serve.log" 2>&1 &
for _ in $(seq 50); do grep -q ready "$WORK/serve.log" && break; sleep 0.1; done

failures=0
passes=0
check() {  # check NAME EXPECTED UID HOST PORT
  local got
  got=$(inns python3 "$WORK/dial.py" "$3" "$4" "$5")
  if [ "$got" = "$2" ]; then
    echo "ok: $1 ($4:$5 as uid $3 -> $got)"; passes=$((passes + 1))
  else
    echo "FAIL: $1: $4:$5 as uid $3 expected '$2', got '$got'"; failures=$((failures + 1))
  fi
}
nat_state() {  # the nat table without counters or comments
  inns iptables-save -t nat | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
  if [ "$HAVE6" = 1 ]; then inns ip6tables-save -t nat | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; fi
}
ARGS=(redirect --proxy-port 15001 --proxy-uid $PROXY_UID --exclude-ports 7001
      --exclude-cidrs 10.99.1.0/24,fd98::/16)

inns "$BIN/tollgate-sidecar" "${ARGS[@]}" > "$WORK/run1.out"
nat_state > "$WORK/nat1"
inns "$BIN/tollgate-sidecar" "${ARGS[@]}" > "$WORK/run2.out"
nat_state > "$WORK/nat2"
if diff -u "$WORK/nat1" "$WORK/nat2"; then
  echo "ok: second run leaves the nat table identical"; passes=$((passes + 1))
else
  echo "FAIL: second run changed the nat table"; failures=$((failures + 1))
fi
if diff -u "$WORK/run1.out" "$WORK/run2.out" >/dev/null; then
  echo "ok: both runs print the same rules"; passes=$((passes + 1))
else
  echo "FAIL: the printed rules differ between runs"; failures=$((failures + 1))
fi
cat "$WORK/run1.out"
expect_rules=(
  "-A OUTPUT -p tcp -j TOLLGATE_OUTPUT"
  "-A TOLLGATE_OUTPUT -m owner --uid-owner $PROXY_UID -j RETURN"
  "-A TOLLGATE_OUTPUT -p tcp -m tcp --dport 7001 -j RETURN"
  "-A TOLLGATE_OUTPUT -d 10.99.1.0/24 -j RETURN"
  "-A TOLLGATE_OUTPUT -d 127.0.0.0/8 -j RETURN"
  "-A TOLLGATE_OUTPUT -p tcp -j REDIRECT --to-ports 15001"
)
for rule in "${expect_rules[@]}"; do
  if grep -qxF -- "$rule" "$WORK/nat1" && grep -qxF -- "$rule" "$WORK/run1.out"; then
    passes=$((passes + 1))
  else
    echo "FAIL: rule missing from the nat table or the printout: $rule"; failures=$((failures + 1))
  fi
done
n=$(inns iptables -t nat -S OUTPUT | grep -c TOLLGATE_OUTPUT || true)
[ "$n" = 1 ] && passes=$((passes + 1)) || { echo "FAIL: $n OUTPUT jumps"; failures=$((failures + 1)); }

check "job connection redirected to the proxy port" proxy $JOB_UID 10.99.0.1 7000
check "proxy uid not redirected (no loop into itself)" direct $PROXY_UID 10.99.0.1 7000
check "loopback not redirected" loopback $JOB_UID 127.0.0.1 7000
check "excluded port not redirected" direct-7001 $JOB_UID 10.99.0.1 7001
check "excluded CIDR not redirected" direct-excluded-cidr $JOB_UID 10.99.1.1 7000
if [ "$HAVE6" = 1 ]; then
  grep -qxF -- "-A TOLLGATE_OUTPUT -d ::1/128 -j RETURN" "$WORK/nat1" &&
    grep -qxF -- "-A TOLLGATE_OUTPUT -d fd98::/16 -j RETURN" "$WORK/nat1" ||
    { echo "FAIL: ip6tables chain incomplete"; failures=$((failures + 1)); }
  check "IPv6 job connection redirected" proxy6 $JOB_UID fd99::1 7000
  check "IPv6 proxy uid not redirected" direct6 $PROXY_UID fd99::1 7000
else
  echo "note: no IPv6 nat in this kernel; IPv6 checks skipped"
fi

# Include lists replace the whole chain: only 10.99.0.1:7000 and the loopback alias 127.0.0.9.
inns "$BIN/tollgate-sidecar" redirect --proxy-uid $PROXY_UID --include-cidrs 10.99.0.1/32,127.0.0.9 \
  --include-ports 7000 --ipv6 off > "$WORK/run3.out"
cat "$WORK/run3.out"
n=$(inns iptables -t nat -S OUTPUT | grep -c TOLLGATE_OUTPUT || true)
[ "$n" = 1 ] && passes=$((passes + 1)) || { echo "FAIL: $n OUTPUT jumps after re-run"; failures=$((failures + 1)); }
check "included destination+port redirected" proxy $JOB_UID 10.99.0.1 7000
check "port outside the include list not redirected" direct-7002 $JOB_UID 10.99.0.1 7002
check "CIDR outside the include list not redirected" direct-excluded-cidr $JOB_UID 10.99.1.1 7000
inns ip addr add 127.0.0.9/8 dev lo 2>/dev/null || true
check "included loopback alias redirected" proxy $JOB_UID 127.0.0.9 7000
check "other loopback still not redirected" loopback $JOB_UID 127.0.0.1 7000

# IPv6 nat unusable (simulated) while the pod has a global IPv6 address: fail closed.
if ip -n "$NS" -6 addr show dev tg0 | grep -q 'fd99::1'; then
  if inns "$BIN/tollgate-sidecar" redirect --proxy-uid $PROXY_UID --ip6tables /bin/false \
      > "$WORK/run4.out" 2> "$WORK/run4.err"; then
    echo "FAIL: IPv6 left unredirected while the pod has IPv6 addresses"; failures=$((failures + 1))
  else
    grep -q "refusing to leave IPv6 unredirected" "$WORK/run4.err" &&
      { echo "ok: IPv6 nat unusable with IPv6 addresses refused"; passes=$((passes + 1)); } ||
      { echo "FAIL: no clear error: $(cat "$WORK/run4.err")"; failures=$((failures + 1)); }
  fi
fi

# Bad arguments: usage error (2), nothing touched.
if inns "$BIN/tollgate-sidecar" redirect --proxy-uid $PROXY_UID --exclude-cidrs 10.0.0.0/33 \
    >/dev/null 2>&1; then
  echo "FAIL: an invalid CIDR was accepted"; failures=$((failures + 1))
else
  echo "ok: invalid CIDR refused"; passes=$((passes + 1))
fi
echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
