# Starts a throw-away PostgreSQL 15 for demos: initdb in a temp dir, TLS with a fresh test CA,
# SCRAM authentication, a random port on 127.0.0.1. Source this file, then call
#   pgtemp_start DIR        (sets PGT_PORT, PGT_DIR, PGT_CA; superuser "postgres", password in PGT_SUPERPW)
#   pgtemp_psql SQL...      (runs SQL as the superuser)
#   pgtemp_stop
# As root the server runs as the "postgres" user (PostgreSQL refuses to run as root).

PGT_BIN=/usr/lib/postgresql/15/bin

pgtemp_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pgtemp_free_port() {
  /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

pgtemp_start() {
  PGT_DIR="$1"
  mkdir -p "$PGT_DIR/tls"
  PGT_PORT=$(pgtemp_free_port)
  PGT_SUPERPW=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  local t="$PGT_DIR/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Tollgate demo CA" -keyout "$t/ca-key.pem" -out "$t/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$t/server-key.pem" -out "$t/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$t/ext.cnf"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -CAcreateserial \
    -days 2 -extfile "$t/ext.cnf" -out "$t/server.pem" 2>/dev/null
  chmod 600 "$t/server-key.pem"
  PGT_CA="$t/ca.pem"
  echo "$PGT_SUPERPW" > "$PGT_DIR/superpw"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$PGT_DIR"; fi
  pgtemp_as_owner "$PGT_BIN/initdb" -D "$PGT_DIR/data" -U postgres -A scram-sha-256 \
    --pwfile="$PGT_DIR/superpw" >/dev/null
  cat >> "$PGT_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGT_PORT
unix_socket_directories = '$PGT_DIR'
ssl = on
ssl_cert_file = '$t/server.pem'
ssl_key_file = '$t/server-key.pem'
ssl_min_protocol_version = 'TLSv1.2'
CONF
  pgtemp_as_owner "$PGT_BIN/pg_ctl" -D "$PGT_DIR/data" -l "$PGT_DIR/server.log" -w start >/dev/null
}

pgtemp_psql() {
  PGPASSWORD="$PGT_SUPERPW" psql -X -q -v ON_ERROR_STOP=1 \
    "host=127.0.0.1 port=$PGT_PORT user=postgres dbname=${PGT_DB:-postgres} sslmode=verify-full sslrootcert=$PGT_CA" "$@"
}

pgtemp_stop() {
  [ -n "${PGT_DIR:-}" ] && [ -d "$PGT_DIR/data" ] &&
    pgtemp_as_owner "$PGT_BIN/pg_ctl" -D "$PGT_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}
