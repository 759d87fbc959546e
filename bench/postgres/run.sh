#!/usr/bin/env bash
# The analyst's alternative, measured on the same extracts: PostgreSQL
# doing in SQL what tfmatch does (link.sql, normalize.sql): normalise the
# four agencies' records, derive every kind of match and block key that
# agency/derive does, HMAC-SHA256 each with pgcrypto under its kind's key,
# blind every token again under a matcher key, link records into persons
# (joins on equal tokens with guards, connected components), form
# households from address and group tokens and count the households the
# phase-1 rules flag. Prints each step's time and the counts (records,
# tokens per record, persons, households, flagged) and, given the figures
# of a `matchctl bench` run on the same district, tfmatch's and the ratio.
#
# usage: bench/postgres/run.sh DISTRICT_DIR [FIGURES.jsonl]
#
# DISTRICT_DIR holds council.csv, dwp.csv, education.csv and police.csv as
# `matchctl gen` (or `matchctl bench`, in DIR/district) writes them.
# FIGURES.jsonl is the file `matchctl bench -out` appended to; its last
# line's pipeline_s is compared. The indicators' reference date is the
# district's (district.json "asof"), else today. Given names are mapped to
# formal names with the repository's agency/normalize/nicknames.txt.
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
nicknames=$here/../../agency/normalize/nicknames.txt
[ -r "$nicknames" ] || { echo "no $nicknames" >&2; exit 1; }
asof=""
if [ -r "$district/district.json" ]; then
	asof=$(grep -o '"asof": *"[0-9-]*"' "$district/district.json" | grep -o '[0-9][0-9-]*' || true)
fi
[ -n "$asof" ] || asof=$(date +%F)

find_pg() {
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		pgbin=$(dirname "$(readlink -f "$(command -v initdb)")")
		return 0
	fi
	local d
	while read -r d; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pgbin=$d; return 0; fi
	done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
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

# C collation: byte order, as the Go code compares strings, and the
# fastest text comparisons.
as_server "$pgbin/initdb" -D "$tmp/data" -A trust -U postgres -E UTF8 --no-locale --no-sync >/dev/null
# Settings for a one-off analysis on this machine: memory for the joins,
# parallel workers, no durability needed (unlogged tables, fsync off).
settings="fsync=off synchronous_commit=off full_page_writes=off shared_buffers=1GB work_mem=512MB maintenance_work_mem=1GB hash_mem_multiplier=2 max_parallel_workers_per_gather=$(nproc) max_parallel_maintenance_workers=$(nproc)"
opts="-k $tmp -c listen_addresses="
for s in $settings; do opts="$opts -c $s"; done
as_server "$pgbin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -s start -o "$opts"
started=1
echo "settings: $settings; unlogged tables; enable_nestloop=off for the joins on tokens (link.sql says why)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"

psql=psql; [ -x "$pgbin/psql" ] && psql=$pgbin/psql
psql_run() { "$psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -U postgres -d postgres "$@"; }

# The nickname table as CSV (variant, canonical name, sex, order), from
# the file the Go normaliser embeds: a variant is listed once per
# canonical name, never as itself.
awk '
/^[[:space:]]*(#|$)/ { next }
{
	split($0, hc, ":"); split(hc[1], h, " "); n = split(hc[2], v, " ")
	for (i = 1; i <= n; i++) {
		if (v[i] == h[1] || seen[v[i] SUBSEP h[1]]++) continue
		print v[i] "," h[1] "," h[2] "," ++ord
	}
}' "$nicknames" >"$tmp/nicknames.csv"

# \copy reads the files as this user; psql does not expand variables in
# it, so the commands are written out with the path quoted for SQL.
for a in council dwp education police; do
	printf "\\copy %s_raw from '%s' with (format csv, header true)\n" "$a" "${district//\'/\'\'}/$a.csv"
done >"$tmp/load.sql"
printf "\\copy nick from '%s' with (format csv)\n" "$tmp/nicknames.csv" >>"$tmp/load.sql"

echo "district: $district (indicators as of $asof)"
start=$(date +%s.%N)
psql_run -v load="$tmp/load.sql" -v asof="$asof" -f "$here/link.sql"
end=$(date +%s.%N)
pg=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
echo "machine load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "PostgreSQL: load, normalise, keys + HMAC, blind, link, households, flag: $pg s"

if [ -n "$figures" ]; then
	last=$(tail -n 1 "$figures")
	fig() { grep -o "\"$1\":[0-9.e+-]*" <<<"$last" | cut -d: -f2; }
	pipe=$(fig pipeline_s)
	if [ -z "$pipe" ]; then echo "no pipeline_s in the last line of $figures" >&2; exit 1; fi
	echo "tfmatch (last line of $figures): $(fig records) records, $(fig tokens) tokens, $(fig persons) persons, $(fig linked_households) households, $(fig flagged_households) flagged"
	awk -v pg="$pg" -v p="$pipe" -v i="$(fig ingest_s)" -v l="$(fig link_s)" -v r="$(fig records)" -v t="$(fig tokens)" 'BEGIN {
		if (r > 0) printf "tfmatch tokens per record: %.2f\n", t / r
		printf "tfmatch pipeline (ingest %.2f s + link %.2f s): %.2f s\nratio PostgreSQL / tfmatch: %.2f\n", i, l, p, pg / p
	}'
fi
