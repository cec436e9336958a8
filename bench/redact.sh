#!/usr/bin/env bash
# bench/redact.sh: log redaction benchmark, pbxagent's redactor against
# sed -E, the tool an administrator would otherwise use to scrub a log.
#
# It generates a deterministic callmanager.log with bench/genlog (SIZE
# bytes, 256 MiB by default; cached in bench/out/), appends a secret-bearing
# line every 100 lines' worth, warms the page cache, then measures with
# /usr/bin/time -f '%e %U %S %M' in the same run:
#   - sed -E with four expressions for the issue's forms (password=,
#     Bearer, URL userinfo, JSON "password") - fewer rules than pbxagent
#   - bench/redactbench (redact.Copy, streaming, with three secret values)
#   - the same on the gzip-compressed log (-gz: decompress, redact,
#     re-compress) against zcat | sed -E | gzip
# and prints wall, user and system seconds, MB/s and peak RSS per row.
#
#   bench/redact.sh
#   SIZE=$((64<<20)) bench/redact.sh
set -euo pipefail

SIZE=${SIZE:-268435456}
die() { echo "redact.sh: $*" >&2; exit 1; }
command -v go >/dev/null || die "go is not installed"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is not installed (apt-get install -y time)"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
BIN=$OUT/bin
mkdir -p "$BIN"
cd "$ROOT"
export CGO_ENABLED=0
go build -trimpath -o "$BIN/genlog" ./bench/genlog
go build -trimpath -o "$BIN/redactbench" ./bench/redactbench

LOG=$OUT/redact-$SIZE.log
if [[ ! -s $LOG ]]; then
	"$BIN/genlog" --size "$SIZE" --seed 1 |
		awk '{print} NR%100==0 {print "2026-11-27 10:00:00.000 [WARN] [db] reconnect postgres://portsip:Pg-Pass-" NR "@127.0.0.1:5432/pbx password=p" NR " Authorization: Bearer tok" NR " {\"password\":\"j" NR "\"}"}' >"$LOG"
	gzip -1 -c "$LOG" >"$LOG.gz"
fi
bytes=$(stat -c %s "$LOG")
cat "$LOG" "$LOG.gz" >/dev/null

SED=(-E -e 's/(password=)[^ &]*/\1REDACTED/g' -e 's/(Bearer )[^ ]*/\1REDACTED/g'
	-e 's#(://[^:/ ]*:)[^@ ]*@#\1REDACTED@#g' -e 's/("password" *: *")[^"]*/\1REDACTED/g')

row() {
	local name=$1; shift
	local tf
	tf=$(mktemp)
	/usr/bin/time -o "$tf" -f '%e %U %S %M' bash -c "$*" >/dev/null 2>&1
	read -r wall user sys rss <"$tf"
	rm -f "$tf"
	printf '%-34s wall %6.2fs  user %6.2fs  sys %5.2fs  %7.1f MB/s  peak RSS %6.1f MiB\n' \
		"$name" "$wall" "$user" "$sys" "$(echo "$bytes / $wall / 1000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
}

echo "log: $LOG ($bytes bytes; gz $(stat -c %s "$LOG.gz") bytes)"
row "sed -E (4 rules)" "sed ${SED[*]@Q} <'$LOG'"
row "pbxagent redact" "'$BIN/redactbench' -values Api-S3cret-Pass,Smtp-S3cret-Pass,Fallback-S3cret <'$LOG'"
row "zcat | sed -E | gzip" "zcat '$LOG.gz' | sed ${SED[*]@Q} | gzip"
row "pbxagent redact -gz" "'$BIN/redactbench' -gz -values Api-S3cret-Pass,Smtp-S3cret-Pass,Fallback-S3cret <'$LOG.gz'"
