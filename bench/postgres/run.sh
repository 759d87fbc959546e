#!/usr/bin/env bash
# The analyst's alternative, measured on the same extracts: PostgreSQL with
# pgcrypto's hmac() over the same kind of match keys and SQL joins across
# the four agencies' tables. Prints the time and, given the figures of a
# `matchctl bench` run on the same district, the ratio to the pipeline.
#
# usage: bench/postgres/run.sh DISTRICT_DIR [FIGURES.jsonl]
#
# DISTRICT_DIR holds council.csv, dwp.csv, education.csv and police.csv as
# `matchctl gen` (or `matchctl bench`, in DIR/district) writes them.
# FIGURES.jsonl is the file `matchctl bench -out` appended to; its last
# line's pipeline_s is compared.
#
# PostgreSQL is installed from the distribution's packages (apt-get) when
# initdb and pg_ctl cannot be found. The server runs on a Unix socket in a
# temporary directory, with no TCP listener, and is stopped and removed at
# the end, whatever happens.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
district=${1:?usage: $0 DISTRICT_DIR [FIGURES.jsonl]}
figures=${2:-}
district=$(cd "$district" && pwd)
for a in council dwp education police; do
	[ -r "$district/$a.csv" ] || { echo "no $district/$a.csv" >&2; exit 1; }
done

find_pg() {
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		pgbin=$(dirname "$(readlink -f "$(command -v initdb)")")
		return 0
	fi
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pgbin=$d; return 0; fi
	done
	return 1
}
if ! find_pg; then
	echo "PostgreSQL not found: installing postgresql and postgresql-contrib (apt-get)"
	sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql postgresql-contrib >/dev/null
	find_pg || { echo "PostgreSQL still not found after installing" >&2; exit 1; }
fi
echo "PostgreSQL: $("$pgbin/postgres" --version)"

# PostgreSQL refuses to run as root: run the server as the postgres user.
as_server() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || { echo "running as root and no postgres user to run the server as" >&2; exit 1; }
	as_server() { runuser -u postgres -- "$@"; }
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfmatch-pg.XXXXXX")
chmod 755 "$tmp"
[ "$(id -u)" -eq 0 ] && chown postgres "$tmp"
started=""
cleanup() {
	if [ -n "$started" ]; then as_server "$pgbin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

as_server "$pgbin/initdb" -D "$tmp/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
# Settings for a one-off analysis on this machine: memory for the joins,
# no durability needed.
as_server "$pgbin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -s start \
	-o "-k $tmp -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=1GB -c work_mem=512MB -c maintenance_work_mem=1GB -c max_parallel_workers_per_gather=$(nproc)"
started=1

psql=psql; [ -x "$pgbin/psql" ] && psql=$pgbin/psql
psql_run() { "$psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -U postgres -d postgres "$@"; }

# \copy reads the files as this user; psql does not expand variables in
# it, so the commands are written out with the path quoted for SQL.
for a in council dwp education police; do
	printf "\\copy %s_raw from '%s' with (format csv, header true)\n" "$a" "${district//\'/\'\'}/$a.csv"
done >"$tmp/load.sql"

start=$(date +%s.%N)
psql_run -v load="$tmp/load.sql" -f "$here/link.sql"
end=$(date +%s.%N)
pg=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
echo
echo "PostgreSQL: load, normalise, HMAC and join: $pg s"

if [ -n "$figures" ]; then
	pipe=$(tail -n 1 "$figures" | grep -o '"pipeline_s":[0-9.e+-]*' | cut -d: -f2)
	if [ -z "$pipe" ]; then echo "no pipeline_s in the last line of $figures" >&2; exit 1; fi
	awk -v pg="$pg" -v p="$pipe" 'BEGIN { printf "tfmatch pipeline (ingest + link): %.2f s\nratio PostgreSQL / tfmatch: %.2f\n", p, pg / p }'
fi
