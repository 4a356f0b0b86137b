# The network namespace of a shell test. Source this file, then call
#   netns_require TOOL...   (exits 77, skipped, unless root and every TOOL is installed)
#   netns_setup NAME        (makes namespace NS=tg-NAME-PID with loopback up, and a scratch dir
#                            WORK readable by other uids; both go when the shell exits)
#   inns CMD...             (runs CMD inside the namespace)
# The namespace's processes get SIGTERM, then SIGKILL half a second later, when it goes.

netns_require() {
  local tool
  if [ "$(id -u)" != 0 ]; then
    echo "skipped: needs root"
    exit 77
  fi
  for tool in ip "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "skipped: needs $tool"
      exit 77
    fi
  done
}

netns_cleanup() {
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -TERM 2>/dev/null || true
  sleep 0.5
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}

netns_setup() {
  NS="tg-$1-$$"
  WORK=$(mktemp -d "/tmp/tollgate-$1-XXXXXX")
  chmod 755 "$WORK"
  trap netns_cleanup EXIT
  ip netns add "$NS"
  ip -n "$NS" link set lo up
}

inns() { ip netns exec "$NS" "$@"; }
