#!/bin/sh
# What the official postgres image does on first start, for the variables the compose
# file sets: an empty PGDATA gets a cluster whose superuser is POSTGRES_USER with
# POSTGRES_PASSWORD, a database POSTGRES_DB, no password over the local socket and
# scram-sha-256 from any address; then the server runs in the foreground on every address.
set -eu

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

initialise() {
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres stand-in: POSTGRES_PASSWORD is empty (the official image refuses too)" >&2
        exit 1
    fi
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 > /dev/null
    rm -f "$password_file"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$database" != postgres ]; then
        # Only on the socket while the database is made: nobody else can connect yet.
        pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
        createdb --username="$user" "$database"
        pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
    fi
    echo "postgres stand-in: initialised $PGDATA for user $user, database $database"
}

[ -s "$PGDATA/PG_VERSION" ] || initialise
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
