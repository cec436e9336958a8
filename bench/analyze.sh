#!/usr/bin/env bash
# bench/analyze.sh: capture analysis benchmark, pbxagent against tshark.
#
# It builds the tools, generates a deterministic mixed SIP+RTP pcap with
# bench/genpcap once (cached in bench/out/, SIZE bytes, 1 GiB by default),
# reads it once to warm the page cache, then measures with
# /usr/bin/time -f '%e %U %S %M' in the same run:
#   - tshark -q -z sip,stat -r FILE
#   - pbxagent analyze FILE --json when the command exists, else the
#     decoder alone: bench/decodebench FILE (analyze/decode.Read with a
#     trivial consumer)
# and prints one row per tool: wall, user and system seconds, throughput
# in MB/s (file size / wall time) and peak RSS, then the speed ratio and
# whether the targets hold (at least 5x tshark's speed, peak RSS under
# 256 MiB).
#
#   bench/analyze.sh
#   SIZE=$((256<<20)) bench/analyze.sh
#
# Needs Go, tshark and /usr/bin/time.
set -euo pipefail

SIZE=${SIZE:-1073741824}
SEED=${SEED:-1}
RUNS=${RUNS:-1} # runs of each tool; the fastest is reported

die() { echo "analyze.sh: $*" >&2; exit 1; }
for c in go tshark; do
	command -v "$c" >/dev/null || die "$c is not installed"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is not installed (apt-get install -y time)"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
BIN=$OUT/bin
mkdir -p "$BIN"
cd "$ROOT"
export CGO_ENABLED=0
go build -trimpath -o "$BIN/genpcap" ./bench/genpcap
go build -trimpath -o "$BIN/decodebench" ./bench/decodebench
AGENT=""
if go build -trimpath -o "$BIN/pbxagent" ./cmd/pbxagent 2>"$OUT/pbxagent-build.log"; then
	AGENT=$BIN/pbxagent
else
	echo "analyze.sh: pbxagent does not build (see $OUT/pbxagent-build.log); measuring the decoder alone" >&2
fi

FILE=$OUT/analyze-$SIZE-seed$SEED.pcap
if [[ ! -s $FILE ]]; then
	echo "generating $FILE ..." >&2
	"$BIN/genpcap" -size "$SIZE" -seed "$SEED" -o "$FILE.tmp" >&2
	mv "$FILE.tmp" "$FILE"
fi
BYTES=$(stat -c %s "$FILE")
cat "$FILE" >/dev/null # page cache: both tools read from memory

if [[ -n $AGENT ]] && "$AGENT" analyze --help >/dev/null 2>&1; then
	OURS=("$AGENT" analyze "$FILE" --json)
	OURS_NAME="pbxagent analyze --json"
else
	OURS=("$BIN/decodebench" "$FILE")
	OURS_NAME="decodebench (decode.Read)"
fi

LOG=$(mktemp -d /tmp/analyze-bench.XXXXXX)
trap 'rm -rf "$LOG"' EXIT

# measure NAME CMD...: prints "wall user sys maxrss_kib" of the fastest run.
measure() {
	local name=$1 best="" i
	shift
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -f '%e %U %S %M' -o "$LOG/$name.time" "$@" >"$LOG/$name.out" 2>"$LOG/$name.err" ||
			die "$name failed: $(tail -3 "$LOG/$name.err")"
		local t
		t=$(tail -1 "$LOG/$name.time")
		if [[ -z $best ]] || awk -v a="${t%% *}" -v b="${best%% *}" 'BEGIN{exit !(a<b)}'; then
			best=$t
		fi
	done
	echo "$best"
}

T_TSHARK=$(measure tshark tshark -q -z sip,stat -r "$FILE")
T_OURS=$(measure ours "${OURS[@]}")

row() { # name "wall user sys rss"
	read -r wall user sys rss <<<"$2"
	awk -v n="$1" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$BYTES" \
		'BEGIN{printf "| %-28s | %8.2f | %8.2f | %8.2f | %9.1f | %9.1f |\n", n, w, u, s, b/1e6/w, r/1024}'
}

echo
echo "file: $FILE ($(awk -v b="$BYTES" 'BEGIN{printf "%.0f MB", b/1e6}'), $(nproc) CPUs, $(uname -m))"
echo
echo "| tool                         |   wall s |   user s |    sys s |      MB/s |  RSS MiB |"
echo "|------------------------------|---------:|---------:|---------:|----------:|---------:|"
row "tshark -z sip,stat" "$T_TSHARK"
row "$OURS_NAME" "$T_OURS"
echo
read -r tw _ _ _ <<<"$T_TSHARK"
read -r ow _ _ orss <<<"$T_OURS"
awk -v tw="$tw" -v ow="$ow" -v rss="$orss" 'BEGIN{
	ratio = tw/ow
	printf "speed: %.1fx tshark (target >= 5x): %s\n", ratio, (ratio >= 5 ? "ok" : "MISSED")
	printf "peak RSS: %.1f MiB (target < 256 MiB): %s\n", rss/1024, (rss/1024 < 256 ? "ok" : "MISSED")
}'
echo
echo "tshark:"
grep -E 'Number of SIP|INVITE|ACK|BYE|SIP 200' "$LOG/tshark.out" | sed 's/^/  /' || true
echo "$OURS_NAME:"
head -c 2000 "$LOG/ours.out" | sed 's/^/  /'
