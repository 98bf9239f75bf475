#!/bin/sh
# Install (Debian) and start a local PostgreSQL server for the PostgreSQL test
# run; print the URL of a superuser role the tests can create databases with.
set -eu
role=mamori
password=${MAMORI_PG_PASSWORD:-mamori-test}
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q postgresql; } >/tmp/mamori-apt-pg.log 2>&1 || {
        echo "mamori: apt-get install postgresql failed; see /tmp/mamori-apt-pg.log" >&2
        exit 1
    }
fi
cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
    pg_createcluster 15 main >/dev/null
    cluster="15 main"
fi
# shellcheck disable=SC2086
pg_ctlcluster $cluster start >/dev/null 2>&1 || true
port=$(pg_lsclusters -h | awk 'NR==1 {print $3}')
i=0
until su postgres -c "psql -p $port -qAtc 'select 1'" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -gt 30 ] && { echo "mamori: PostgreSQL did not start" >&2; exit 1; }
    sleep 1
done
su postgres -c "psql -p $port -qAtc \"select 1 from pg_roles where rolname='$role'\"" | grep -q 1 ||
    su postgres -c "psql -p $port -qc \"create role $role login superuser password '$password'\"" >/dev/null
echo "postgresql+psycopg://$role:$password@127.0.0.1:$port/postgres"
