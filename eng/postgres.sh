#!/usr/bin/env bash
# A PostgreSQL server for Executor's distributed mode, on loopback, with its data in a folder of the project's:
# Debian's postgresql when missing, a cluster made with initdb, a database "executor" owned by a role "executor" with a
# generated password. PostgreSQL refuses to run as root: the server runs as the "postgres" user the package creates.
#
#   eng/postgres.sh start ROOT PORT   start it in the background (made on first use); prints the connection string
#   eng/postgres.sh run ROOT PORT     the same in the foreground (for the AppHost); SIGTERM/SIGINT stop it
#   eng/postgres.sh stop ROOT         stop it (fast: open sessions are ended)
#   eng/postgres.sh url ROOT PORT     print the connection string
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=eng/common.sh
. "$here/common.sh"

command=${1:-}
root=${2:-}
port=${3:-}
[ -n "$command" ] && [ -n "$root" ] || die "usage: eng/postgres.sh start|run|stop|url ROOT [PORT]"
root=$(mkdir -p "$root" && cd "$root" && pwd)
data=$root/data

bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ]; then
    is_root && is_debian_like || die "PostgreSQL is not installed: install PostgreSQL 15 or later"
    say "installing postgresql from the distribution" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

url() { echo "Host=127.0.0.1;Port=$port;Database=executor;Username=executor;Password=$(cat "$root/password")"; }

ensure_cluster() {
  is_root || die "eng/postgres.sh runs as root (it makes the cluster's folder for the postgres user)"
  local bin=$1
  [ -s "$data/PG_VERSION" ] && return 0
  chmod 0755 "$root"
  as_postgres test -x "$root" || die "the postgres user cannot reach $root: put the data somewhere all users can traverse"
  [ -s "$root/password" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$root/password")
  mkdir -p "$data"
  chown postgres:postgres "$data"
  chmod 0700 "$data"
  install -o postgres -g postgres -m 0600 "$root/password" "$root/.pwfile"
  say "creating a PostgreSQL cluster in $data" >&2
  as_postgres "$bin/initdb" -D "$data" -U executor --pwfile="$root/.pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$root/initdb.log" 2>&1 \
    || die "initdb failed; see $root/initdb.log"
  rm -f "$root/.pwfile"
  echo "CREATE DATABASE executor OWNER executor" | as_postgres "$bin/postgres" --single -D "$data" postgres >>"$root/initdb.log" 2>&1 \
    || die "could not create the database; see $root/initdb.log"
}

# max_connections: the AppHost shares it out among the SessionService replicas' pools (InfrastructureExtensions).
server_options() { echo "-p $port -h 127.0.0.1 -k $data -c max_connections=200 -c shared_buffers=64MB -c log_min_messages=warning"; }

case $command in
  start)
    [ -n "$port" ] || die "usage: eng/postgres.sh start ROOT PORT"
    bin=$(bin_dir)
    ensure_cluster "$bin"
    if ! as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      touch "$root/server.log" && chown postgres:postgres "$root/server.log"
      as_postgres "$bin/pg_ctl" -D "$data" -l "$root/server.log" -o "$(server_options)" -w -t 60 start >/dev/null \
        || die "PostgreSQL did not start; see $root/server.log"
    fi
    url
    ;;
  run)
    [ -n "$port" ] || die "usage: eng/postgres.sh run ROOT PORT"
    bin=$(bin_dir)
    ensure_cluster "$bin"
    # A fast shutdown on SIGTERM (postgres' own answer to SIGTERM waits for every client to leave).
    # shellcheck disable=SC2046
    as_postgres "$bin/postgres" -D "$data" $(server_options) &
    server=$!
    trap 'as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1; wait "$server"; exit 0' TERM INT
    wait "$server"
    ;;
  stop)
    bin=$(bin_dir)
    [ -s "$data/PG_VERSION" ] && as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  url)
    [ -n "$port" ] || die "usage: eng/postgres.sh url ROOT PORT"
    url
    ;;
  *) die "unknown command $command" ;;
esac
