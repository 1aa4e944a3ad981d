#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for tests that must stop and restart
# a database (crash/reconnect/recovery tests) without disturbing the shared
# server on 5432.
#
# Usage: bash scripts/pg-scratch.sh start DIR PORT   # initdb if needed, then start
#        bash scripts/pg-scratch.sh stop DIR         # fast shutdown; ok if not running
#        bash scripts/pg-scratch.sh status DIR       # exit 0 running, 3 stopped, 4 no cluster
#
# The cluster listens on 127.0.0.1:PORT (and a unix socket inside DIR), user
# postgres, trust auth, fsync off. Remove DIR to throw it away.
set -euo pipefail

die() {
  echo "pg-scratch.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: bash scripts/pg-scratch.sh start DIR PORT | stop DIR | status DIR" >&2
  exit 2
}

# Use the Debian server binaries directly (pg_ctlcluster only manages clusters
# registered under /etc/postgresql); pick the newest installed version.
pg_bindir() {
  local ver
  ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)"
  [[ -n $ver && -x /usr/lib/postgresql/$ver/bin/pg_ctl ]] \
    || die "no PostgreSQL server binaries under /usr/lib/postgresql (run: bash scripts/services.sh postgres)"
  echo "/usr/lib/postgresql/$ver/bin"
}

# Postgres refuses to run as root, so as root run its binaries as the
# postgres OS user. cd / first: the caller's cwd may be unreadable to it.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

ensure_pg_user() {
  [[ $(id -u) -eq 0 ]] || return 0
  id -u postgres >/dev/null 2>&1 || useradd --system postgres
}

# Canonical absolute path, which need not exist yet: pg_ctl runs from /, the
# socket directory must be absolute, and as root the path must not pass
# through directories the postgres user cannot search (e.g. /root/../tmp).
abs_dir() {
  realpath -m -- "$1"
}

cmd_start() {
  local dir="$1" port="$2" bin
  [[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "bad port: $port"
  # DIR goes inside pg_ctl's -o option string, which a shell re-parses.
  [[ $dir != *[[:space:]\'\"\\\$\`]* ]] || die "DIR must not contain spaces or quotes: $dir"
  bin="$(pg_bindir)"
  ensure_pg_user

  if as_pg "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1; then
    echo "pg-scratch: already running in $dir"
    return 0
  fi

  if [[ ! -f $dir/PG_VERSION ]]; then
    mkdir -p "$dir"
    if [[ -n "$(ls -A "$dir")" ]]; then
      die "$dir is not empty and not a PostgreSQL data directory"
    fi
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
    chmod 700 "$dir"
    as_pg "$bin/initdb" -D "$dir" -A trust -U postgres -E UTF8 --no-instructions >/dev/null \
      || die "initdb failed for $dir (as root, its parent directories must be searchable by the postgres user)"
  elif [[ $(id -u) -eq 0 ]]; then
    chown -R postgres: "$dir"
  fi

  # The server log lives in DIR so it disappears with the cluster.
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
    -o "-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
    || die "pg_ctl start failed; see $dir/server.log"
  echo "pg-scratch: running on 127.0.0.1:$port (data in $dir)"
}

cmd_stop() {
  local dir="$1" bin rc=0
  bin="$(pg_bindir)"
  # Nothing there, or not running: stopping is already done.
  [[ -f $dir/PG_VERSION ]] || return 0
  as_pg "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1 || rc=$?
  if ((rc != 0)); then
    echo "pg-scratch: not running in $dir"
    return 0
  fi
  as_pg "$bin/pg_ctl" stop -D "$dir" -m fast -w >/dev/null || die "pg_ctl stop failed for $dir"
  echo "pg-scratch: stopped $dir"
}

cmd_status() {
  local dir="$1" bin rc=0
  bin="$(pg_bindir)"
  # pg_ctl's own exit codes: 0 running, 3 not running, 4 no data directory.
  as_pg "$bin/pg_ctl" status -D "$dir" || rc=$?
  return "$rc"
}

[[ $# -ge 2 ]] || usage
action="$1"
dir="$(abs_dir "$2")"
case "$action" in
  start)
    [[ $# -eq 3 ]] || usage
    cmd_start "$dir" "$3"
    ;;
  stop)
    [[ $# -eq 2 ]] || usage
    cmd_stop "$dir"
    ;;
  status)
    [[ $# -eq 2 ]] || usage
    cmd_status "$dir"
    ;;
  *) usage ;;
esac
