#!/bin/sh
# Entry point of the offline PostgreSQL image (eng/compose-offline.sh), read as the official image's: POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB make the cluster on first start; the server listens on every address, with
# passwords (scram-sha-256) required from anywhere. It runs as the postgres user, never as root.
set -eu
data=/var/lib/postgresql/data
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
mkdir -p "$data" /run/postgresql
chown -R postgres:postgres "$data" /run/postgresql
chmod 0700 "$data"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
if [ ! -s "$data/PG_VERSION" ]; then
  printf '%s' "$POSTGRES_PASSWORD" >/tmp/pwfile
  chown postgres /tmp/pwfile
  as_postgres "$bin/initdb" -D "$data" -U "$user" --pwfile=/tmp/pwfile -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >>"$data/pg_hba.conf"
  if [ "$database" != postgres ]; then
    echo "CREATE DATABASE \"$database\" OWNER \"$user\"" | as_postgres "$bin/postgres" --single -D "$data" postgres >/dev/null
  fi
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$bin/postgres" -D "$data" -c listen_addresses='*'
