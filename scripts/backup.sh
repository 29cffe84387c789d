#!/usr/bin/env bash
# The nightly PostgreSQL backup (docs/backup.md): pg_dump's custom format into DIR, read back
# once to be sure it is whole, then the dumps older than KEEP_DAYS deleted.
#
# Usage: scripts/backup.sh DATABASE DIR [KEEP_DAYS]
#   DATABASE   what pg_dump's --dbname takes: a name (tiepdan) or a libpq URI
#              (postgresql://tiepdan@db.example.vn:5432/tiepdan; the password in ~/.pgpass)
#   DIR        one folder per database, on an encrypted disk only the backup operator reads
#   KEEP_DAYS  default 30
# PG_DUMP and PG_RESTORE run the tools some other way, e.g. inside the compose service:
#   PG_DUMP="docker-compose exec -T postgres pg_dump -U tiepdan" \
#   PG_RESTORE="docker-compose exec -T postgres pg_restore" scripts/backup.sh tiepdan /srv/backups/tiepdan
# Prints the dump's path. Exits non-zero, leaving no .dump behind, if anything fails.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 DATABASE DIR [KEEP_DAYS]" >&2
    exit 2
fi
database=$1
dir=$2
keep_days=${3:-30}
read -r -a pg_dump <<<"${PG_DUMP:-pg_dump}"
read -r -a pg_restore <<<"${PG_RESTORE:-pg_restore}"

umask 077 # the dump holds citizens' personal data
mkdir -p "$dir"
dump="$dir/$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="$dump.partial"
trap 'rm -f "$partial"' EXIT

# Through stdout rather than --file, so that PG_DUMP may run in a container.
"${pg_dump[@]}" --format=custom --dbname="$database" >"$partial"
"${pg_restore[@]}" --list <"$partial" >/dev/null
mv "$partial" "$dump"

find "$dir" -maxdepth 1 -name '*.dump' -mtime +"$keep_days" -delete
echo "$dump"
