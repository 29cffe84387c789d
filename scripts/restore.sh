#!/usr/bin/env bash
# Restore a dump made by scripts/backup.sh into a fresh, empty database (docs/backup.md).
# All or nothing: one transaction, stopped at the first error, so a restore that fails (or
# one pointed at a database that already has the tables) leaves the database as it was.
#
# Usage: scripts/restore.sh DUMP DATABASE
#   DATABASE  what pg_restore's --dbname takes: a name or a libpq URI. Create it first:
#             createdb -T template0 tiepdan_restored
# Objects are owned by the user who restores (--no-owner) and keep no GRANTs (--no-privileges).
# PG_RESTORE runs pg_restore some other way, e.g. in the compose service:
#   PG_RESTORE="docker-compose exec -T postgres pg_restore -U tiepdan" scripts/restore.sh DUMP tiepdan_restored
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 DUMP DATABASE" >&2
    exit 2
fi
dump=$1
database=$2
read -r -a pg_restore <<<"${PG_RESTORE:-pg_restore}"

# Through stdin rather than a file argument, so that PG_RESTORE may run in a container.
"${pg_restore[@]}" --exit-on-error --single-transaction --no-owner --no-privileges \
    --dbname="$database" <"$dump"
