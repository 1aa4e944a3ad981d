#!/usr/bin/env bash
# Make sure the backing services that ingestd's tests and demo need are
# running and reachable on 127.0.0.1: start them if stopped, install them
# with apt-get if absent. Idempotent and fast when everything is already up.
#
# Usage: bash scripts/services.sh [postgres] [rabbitmq] [nats] [mosquitto|mqtt] [kafka]
#                                 [influxdb] [chromium] ...
#        (no arguments = every supported service)
#
# kafka also makes sure the topics in KAFKA_TOPICS exist with (at least) their
# partition counts. influxdb is InfluxDB 1.x on 127.0.0.1:8086 (HTTP auth off),
# run with scripts/influxdb.conf and its data under
# ${XDG_CACHE_HOME:-~/.cache}/ingestd/influxdb. chromium is not a server: it
# only makes sure Debian's /usr/bin/chromium is installed (browser tests).
#
# Assumes Debian 12, running as root (CI containers and dev VMs).
# Adding a service = writing one `svc_<name>` function and listing it below.
set -euo pipefail

# Services started (or, for chromium, installed) when no argument is given.
ALL_SERVICES=(postgres rabbitmq nats mosquitto kafka influxdb chromium)

# Topics that svc_kafka creates, or grows to this many partitions, as NAME:PARTITIONS.
KAFKA_TOPICS=(smart-grid-transactions:32)

# Upper bound for any single service to become ready, in seconds.
READY_TIMEOUT="${SERVICES_TIMEOUT:-60}"

HOST=127.0.0.1
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

export DEBIAN_FRONTEND=noninteractive

die() {
  local code="$1"
  shift
  echo "services.sh: $*" >&2
  exit "$code"
}

# TCP probe via bash's /dev/tcp. Runs in a child bash under `timeout` so a
# filtered port cannot hang us; 127.0.0.1 normally answers instantly.
port_open() {
  timeout 1 bash -c ">/dev/tcp/$HOST/$1" 2>/dev/null
}

# `apt-get update` is slow, so run it at most once and only when an install
# is actually needed.
APT_UPDATED=0
apt_install() {
  [[ $(id -u) -eq 0 ]] || die 1 "need root to apt-get install $*"
  if [[ $APT_UPDATED -eq 0 ]]; then
    apt-get update -qq >&2 || die 1 "apt-get update failed"
    APT_UPDATED=1
  fi
  apt-get install -y -qq --no-install-recommends "$@" >&2 \
    || die 1 "apt-get install $* failed"
}

# wait_until NAME CMD...: retry CMD until it succeeds or READY_TIMEOUT passes.
wait_until() {
  local name="$1"
  shift
  local deadline=$((SECONDS + READY_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die 1 "$name: not ready after ${READY_TIMEOUT}s (check: $*)"
    fi
    sleep 0.5
  done
}

# report NAME PORT STATE where STATE is running|started|installed.
report() {
  case "$3" in
    running) echo "$1: running on $HOST:$2" ;;
    started) echo "$1: started on $HOST:$2" ;;
    installed) echo "$1: installed and started on $HOST:$2" ;;
  esac
}

# --- postgres ---------------------------------------------------------------

pg_version() {
  # The Debian cluster version is the directory name under /etc/postgresql;
  # take the newest if several are present.
  local v
  v="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)"
  [[ -n $v ]] || die 1 "postgres: no cluster under /etc/postgresql"
  echo "$v"
}

pg_sql() {
  psql -h "$HOST" -p 5432 -U postgres -w -X -Atq -d postgres -c "$1"
}

# Tests connect as postgres over TCP without a password: prepend trust rules
# (first match wins in pg_hba.conf). Only done on a fresh install, or when the
# password-less connection is actually refused; a no-op if already first.
pg_hba_trust_localhost() {
  local hba="/etc/postgresql/$1/main/pg_hba.conf" first tmp
  [[ -f $hba ]] || die 1 "postgres: $hba not found, cannot enable trust auth"
  # First effective rule, whitespace-normalised.
  first="$(awk '!/^[[:space:]]*(#|$)/ { $1 = $1; print; exit }' "$hba")"
  [[ $first == "host all all 127.0.0.1/32 trust" ]] && return 0
  tmp="$(mktemp)"
  {
    echo "# Added by scripts/services.sh: password-less TCP access from localhost for tests"
    echo "host all all 127.0.0.1/32 trust"
    echo "host all all ::1/128 trust"
    cat "$hba"
  } >"$tmp"
  # Rewrite in place to keep the file's owner and mode.
  cat "$tmp" >"$hba"
  rm -f "$tmp"
}

svc_postgres() {
  local port=5432 state=running ver
  if ! port_open "$port"; then
    state=started
    if ! command -v pg_ctlcluster >/dev/null || [[ ! -d /etc/postgresql ]]; then
      apt_install postgresql
      state=installed
    fi
    ver="$(pg_version)"
    if [[ $state == installed ]]; then
      pg_hba_trust_localhost "$ver"
    fi
    if port_open "$port"; then
      # The package's postinst already started it (no policy-rc.d): reload
      # so the new pg_hba.conf applies.
      pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
    else
      pg_ctlcluster --skip-systemctl-redirect "$ver" main start \
        || die 1 "postgres: pg_ctlcluster $ver main start failed"
    fi
  fi
  wait_until postgres pg_isready -q -h "$HOST" -p "$port"

  if ! pg_sql 'select 1' >/dev/null 2>&1; then
    # Most likely password auth on a cluster we did not configure.
    echo "postgres: password-less login as postgres@$HOST refused; adding trust rules to pg_hba.conf" >&2
    ver="$(pg_version)"
    pg_hba_trust_localhost "$ver"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
    wait_until "postgres (trust auth)" pg_sql 'select 1'
  fi

  if [[ "$(pg_sql "select 1 from pg_database where datname = 'test'")" != 1 ]]; then
    # Tolerate a concurrent run having created it in the meantime.
    createdb -U postgres -h "$HOST" -p "$port" -w test 2>/dev/null \
      || [[ "$(pg_sql "select 1 from pg_database where datname = 'test'")" == 1 ]] \
      || die 1 "postgres: could not create database 'test'"
  fi
  report postgres "$port" "$state"
}

# --- rabbitmq ---------------------------------------------------------------

rabbit_ready() {
  port_open 5672 && timeout 15 rabbitmqctl -q await_startup
}

svc_rabbitmq() {
  local port=5672 state=running
  if ! port_open "$port"; then
    state=started
    if ! command -v rabbitmq-server >/dev/null; then
      apt_install rabbitmq-server
      state=installed
    fi
    # The package's postinst may already have started it.
    if ! port_open "$port"; then
      # Fails harmlessly ("node already running") if it is still booting.
      rabbitmq-server -detached >/dev/null 2>&1 || true
    fi
    # The node takes several seconds to boot; guest/guest works on localhost.
    wait_until rabbitmq rabbit_ready
  fi
  report rabbitmq "$port" "$state"
}

# --- nats -------------------------------------------------------------------

svc_nats() {
  local port=4222 state=running
  if ! port_open "$port"; then
    state=started
    if [[ ! -x /usr/sbin/nats-server ]]; then
      apt_install nats-server
      state=installed
    fi
    # JetStream needs a writable store directory.
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a "$HOST" -p "$port" -js -sd /var/lib/nats-server -l /var/log/nats-server.log \
      || die 1 "nats: start-stop-daemon failed"
    wait_until nats port_open "$port"
  fi
  report nats "$port" "$state"
}

# --- mosquitto (MQTT) -------------------------------------------------------

svc_mosquitto() {
  # Our own broker on 1884 with scripts/mosquitto.conf (queue limits raised so a
  # persistent session that is offline for a while loses nothing), whatever runs
  # on the default port.
  local port=1884 state=running conf="$SCRIPT_DIR/mosquitto.conf"
  if ! port_open "$port"; then
    state=started
    if ! command -v mosquitto >/dev/null; then
      apt_install mosquitto
      state=installed
    fi
    [[ -f $conf ]] || die 1 "mosquitto: $conf not found"
    # mosquitto drops privileges to the mosquitto user as root, so the
    # persistence directory named in our conf must be writable by it.
    install -d -o mosquitto -g mosquitto /var/lib/mosquitto/ingestd
    mosquitto -d -c "$conf" || die 1 "mosquitto: failed to start with $conf"
    wait_until mosquitto port_open "$port"
  fi
  report mosquitto "$port" "$state"
}

# --- kafka ------------------------------------------------------------------

# A single-node KRaft broker run from Maven Central's jars by scripts/kafka.sh
# (which owns the details: jar cache, config, format, readiness, logs). Needs
# Java 17+ and, the first time only, Maven to fetch the jars.
svc_kafka() {
  local state=running out
  if ! command -v java >/dev/null; then
    apt_install openjdk-17-jre-headless
    state=installed
  fi
  if ! command -v mvn >/dev/null; then
    apt_install maven
    state=installed
  fi
  out="$(bash "$SCRIPT_DIR/kafka.sh" start)" || die 1 "kafka: scripts/kafka.sh start failed"
  # kafka.sh says "running" when it was already up, "started" otherwise.
  if [[ $state != installed && $out == *started* ]]; then
    state=started
  fi
  if [[ ${#KAFKA_TOPICS[@]} -gt 0 ]]; then
    # One tool JVM for all topics (a second or two); quiet unless it changes something.
    bash "$SCRIPT_DIR/kafka.sh" ensure-topics "${KAFKA_TOPICS[@]}" \
      || die 1 "kafka: could not create the topics ${KAFKA_TOPICS[*]}"
  fi
  report kafka 9092 "$state"
}

# --- influxdb ---------------------------------------------------------------

# InfluxDB 1.x from Debian's influxdb package (1.6.7 on Debian 12). Whatever
# already answers /ping on 127.0.0.1:8086 is reused; otherwise we run our own
# influxd with scripts/influxdb.conf, its state outside the work tree in
#   $INGESTD_INFLUXDB_HOME (default ${XDG_CACHE_HOME:-$HOME/.cache}/ingestd/influxdb):
#   meta/ data/ wal/  influxd's directories (passed as INFLUXDB_*_DIR: the
#                     TOML config cannot expand variables)
#   influxd.log       its log;  influxd.pid  its pid
# The package's own init script (which a policy-rc.d may stop from starting it
# on install) is neither needed nor used.
INFLUX_PORT=8086
INFLUX_HOME="${INGESTD_INFLUXDB_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/ingestd/influxdb}"

influx_ping() {
  [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$HOST:$INFLUX_PORT/ping")" == 204 ]]
}

# Pid of the influxd this script started, if that process is still alive.
influx_managed_pid() {
  local pid
  [[ -f $INFLUX_HOME/influxd.pid ]] || return 1
  pid="$(cat "$INFLUX_HOME/influxd.pid")"
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # Guard against pid reuse: the process must be an influxd.
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q 'influxd' || return 1
  echo "$pid"
}

influx_start() {
  local conf="$SCRIPT_DIR/influxdb.conf" v
  [[ -f $conf ]] || die 1 "influxdb: $conf not found"
  port_open "$INFLUX_PORT" \
    && die 1 "influxdb: $HOST:$INFLUX_PORT is in use by something that does not answer /ping with 204"
  port_open 8088 && die 1 "influxdb: $HOST:8088 (influxd's backup/restore RPC port) is already in use"
  mkdir -p "$INFLUX_HOME/meta" "$INFLUX_HOME/data" "$INFLUX_HOME/wal"
  # Our conf and dirs only: drop any INFLUXDB_* override from the caller's environment.
  local envs=(env)
  for v in $(compgen -e); do
    if [[ $v == INFLUXDB_* ]]; then envs+=(-u "$v"); fi
  done
  envs+=(INFLUXDB_META_DIR="$INFLUX_HOME/meta" INFLUXDB_DATA_DIR="$INFLUX_HOME/data"
    INFLUXDB_DATA_WAL_DIR="$INFLUX_HOME/wal")
  # setsid: it must outlive this shell (and npm) and its process group.
  # 8>&-: it must not inherit (and so hold) the lock's descriptor.
  setsid "${envs[@]}" influxd run -config "$conf" \
    </dev/null >>"$INFLUX_HOME/influxd.log" 2>&1 8>&- &
  echo "$!" >"$INFLUX_HOME/influxd.pid"
}

svc_influxdb() {
  local state=running pid deadline
  command -v curl >/dev/null || apt_install curl
  if ! influx_ping; then
    state=started
    if ! command -v influxd >/dev/null; then
      apt_install influxdb
      state=installed
    fi
    # Serialise concurrent runs: a second one waits here, then finds it up.
    mkdir -p "$INFLUX_HOME"
    exec 8>"$INFLUX_HOME/.lock"
    flock -w $((READY_TIMEOUT * 2)) 8 || die 1 "influxdb: another services.sh holds $INFLUX_HOME/.lock"
    if influx_ping; then
      # A concurrent run started it while we waited for the lock.
      [[ $state == installed ]] || state=running
    else
      # One of ours that is still opening its shards is waited for, not doubled.
      pid="$(influx_managed_pid)" || { influx_start; pid="$(cat "$INFLUX_HOME/influxd.pid")"; }
      deadline=$((SECONDS + READY_TIMEOUT))
      until influx_ping; do
        if ! kill -0 "$pid" 2>/dev/null; then
          rm -f "$INFLUX_HOME/influxd.pid"
          echo "services.sh: influxdb: influxd exited during start-up; last lines of $INFLUX_HOME/influxd.log:" >&2
          tail -n 20 "$INFLUX_HOME/influxd.log" >&2 || true
          exit 1
        fi
        ((SECONDS < deadline)) \
          || die 1 "influxdb: influxd (pid $pid) not answering /ping after ${READY_TIMEOUT}s; left running, see $INFLUX_HOME/influxd.log"
        sleep 0.3
      done
    fi
    exec 8>&-
  fi
  report influxdb "$INFLUX_PORT" "$state"
}

# --- chromium ---------------------------------------------------------------

# Debian's Chromium for headless browser tests (Playwright's executablePath
# /usr/bin/chromium). Not a server: nothing to start.
svc_chromium() {
  local state=present ver
  if [[ ! -x /usr/bin/chromium ]]; then
    apt_install chromium
    state=installed
  fi
  # The launcher's /etc/chromium.d/dev-shm prints a harmless "[: N: unexpected
  # operator" on machines where findmnt lists /dev/shm twice, so its output is
  # shown only on failure.
  local out
  out="$(/usr/bin/chromium --version 2>&1)" \
    || { echo "$out" >&2; die 1 "chromium: /usr/bin/chromium --version failed"; }
  ver="$(grep -m 1 '^Chromium ' <<<"$out")" \
    || { echo "$out" >&2; die 1 "chromium: unexpected /usr/bin/chromium --version output"; }
  echo "chromium: $state, $ver (/usr/bin/chromium)"
}

# --- main -------------------------------------------------------------------

main() {
  local services=("$@") name
  if [[ ${#services[@]} -eq 0 ]]; then
    services=("${ALL_SERVICES[@]}")
  fi
  # Resolve and validate every name before touching anything, so a typo or
  # an unsupported service fails fast instead of after a slow install.
  local resolved=()
  for name in "${services[@]}"; do
    case "$name" in
      -h | --help)
        echo "usage: bash scripts/services.sh [${ALL_SERVICES[*]}] ...  (default: all)"
        exit 0
        ;;
      mqtt) name=mosquitto ;;
    esac
    declare -F "svc_$name" >/dev/null \
      || die 2 "unknown service '$name' (known: ${ALL_SERVICES[*]})"
    resolved+=("$name")
  done
  for name in "${resolved[@]}"; do
    "svc_$name"
  done
}

main "$@"
