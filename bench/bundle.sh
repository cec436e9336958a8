#!/usr/bin/env bash
# Bundle benchmark: pbxagent bundle against tar+gzip, tar+pigz and tar+zstd
# on a 1 GiB synthetic callmanager.log. Run from the repository root:
#
#   sudo bench/bundle.sh
#
# Environment:
#   RUNS=3         measurements per command (the median is reported)
#   SIZE=1GiB      size of the generated callmanager.log
#   KEEP_LOG=1     keep bench/out/pbx (and reuse it on the next run)
#   CMD_TIMEOUT=300  seconds after which one measured command is killed
#   NICE=0         scheduling priority of the measured commands; on a shared
#                  machine NICE=-20 (root) keeps other work from skewing the
#                  wall times (every command gets the same priority)
#
# Writes the results table to stdout and bench/out/results.md; everything
# else under bench/out is removed on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
RUNS=${RUNS:-3}
SIZE=${SIZE:-1GiB}
KEEP_LOG=${KEEP_LOG:-0}
CMD_TIMEOUT=${CMD_TIMEOUT:-300}
NICE=${NICE:-0}
SEED=1

PBX=$OUT/pbx
LOGDIR=$PBX/log
STATE=$OUT/state
ARCH=$OUT/archives
CFG=$OUT/pbxagent.yaml
BIN=$OUT/pbxagent
TIMES=$OUT/times.tsv

cleanup() {
	rm -rf "$STATE" "$ARCH" "$CFG" "$BIN" "$OUT/genlog" "$TIMES" "$OUT/time.out" "$OUT/cmd.out"
	if [ "$KEEP_LOG" != 1 ]; then
		rm -rf "$PBX"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() {
	local missing=()
	command -v pigz >/dev/null || missing+=(pigz)
	command -v zstd >/dev/null || missing+=(zstd)
	[ -x /usr/bin/time ] || missing+=(time)
	if [ ${#missing[@]} -gt 0 ]; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			echo "installing ${missing[*]}" >&2
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
		else
			echo "bench/bundle.sh: missing ${missing[*]} (apt-get install ${missing[*]})" >&2
			exit 1
		fi
	fi
	command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin
}
need

mkdir -p "$OUT" "$LOGDIR" "$STATE" "$ARCH"

echo "== build" >&2
CGO_ENABLED=0 go build -o "$BIN" ./cmd/pbxagent
CGO_ENABLED=0 go build -o "$OUT/genlog" ./bench/genlog

echo "== generate $SIZE callmanager.log (seed $SEED)" >&2
LOG=$LOGDIR/callmanager.log
if [ "$KEEP_LOG" = 1 ] && [ -s "$LOG" ] && [ -s "$PBX/.seed" ] && [ "$(cat "$PBX/.seed")" = "$SEED $SIZE" ]; then
	echo "   reusing $LOG" >&2
else
	rm -f "$PBX/.seed"
	"$OUT/genlog" --size "$SIZE" --seed "$SEED" -o "$LOG"
	echo "$SEED $SIZE" >"$PBX/.seed"
fi
printf '[Network]\nsip_domain=pbx.example.com\n' >"$PBX/system.ini"
LOG_BYTES=$(stat -c %s "$LOG")

cat >"$CFG" <<EOF
pbx:
  data_dir: $PBX
  install_dir: $OUT/opt
  docker_socket: ""
agent:
  state_dir: $STATE
  log_level: warn
bundle:
  output_dir: $ARCH
  max_size: 2GiB
  max_file_size: 2GiB
  reserve_percent: 1
  reserve_min: 16MiB
EOF
"$BIN" config validate "$CFG" >/dev/null
"$BIN" --config "$CFG" keygen >/dev/null

# Read the log once so every command starts from the page cache.
cat "$LOG" >/dev/null

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v n="$(nproc)" '{ exit !($1 > n / 4) }' /proc/loadavg; then
	echo "warning: load average $LOAD_START on $(nproc) CPUs: other work competes for the CPUs, wall times will be noisy" >&2
fi

: >"$TIMES"
# measure NAME COMMAND...: runs COMMAND under /usr/bin/time, records
# "name wall cpu rss_kib bytes" and leaves the archive in $ARCH/last.
measure() {
	local name=$1
	shift
	rm -rf "$ARCH" && mkdir -p "$ARCH"
	if ! nice -n "$NICE" /usr/bin/time -o "$OUT/time.out" -f '%e %U %S %M' timeout "$CMD_TIMEOUT" "$@" >"$OUT/cmd.out" 2>&1; then
		echo "bench/bundle.sh: $name failed:" >&2
		cat "$OUT/cmd.out" "$OUT/time.out" >&2
		exit 1
	fi
	local f
	f=$(find "$ARCH" -maxdepth 1 -type f \( -name '*.tar.gz' -o -name '*.tar.zst' \) | head -n1)
	[ -n "$f" ] || { echo "bench/bundle.sh: $name wrote no archive" >&2; exit 1; }
	local wall user sys rss
	read -r wall user sys rss <"$OUT/time.out"
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$wall" "$(echo "$user $sys" | awk '{printf "%.2f", $1+$2}')" "$rss" "$(stat -c %s "$f")" >>"$TIMES"
	printf '   %-16s %6ss wall %6ss cpu %7s KiB rss %11s bytes\n' "$name" "$wall" \
		"$(echo "$user $sys" | awk '{printf "%.2f", $1+$2}')" "$rss" "$(stat -c %s "$f")" >&2
	LAST=$f
}

verify() {
	if ! timeout "$CMD_TIMEOUT" "$BIN" --config "$CFG" verify "$LAST" >"$OUT/cmd.out" 2>&1; then
		echo "bench/bundle.sh: pbxagent verify $LAST failed:" >&2
		cat "$OUT/cmd.out" >&2
		exit 1
	fi
}

for run in $(seq 1 "$RUNS"); do
	echo "== run $run of $RUNS" >&2
	measure "tar czf" tar czf "$ARCH/log.tar.gz" -C "$PBX" log
	measure "tar pigz" tar -I pigz -cf "$ARCH/log.tar.gz" -C "$PBX" log
	measure "tar zstd -T0" tar -I 'zstd -T0' -cf "$ARCH/log.tar.zst" -C "$PBX" log
	measure "pbxagent tar.gz" "$BIN" --config "$CFG" bundle --no-capture --format tar.gz
	verify
	measure "pbxagent tar.zst" "$BIN" --config "$CFG" bundle --no-capture --format tar.zst
	verify
done

# Medians per command, in the order measured.
table=$(awk -F'\t' -v log_bytes="$LOG_BYTES" '
function median(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	if (!($1 in wall)) order[++n] = $1
	wall[$1] = wall[$1] " " $2; cpu[$1] = cpu[$1] " " $3; rss[$1] = rss[$1] " " $4; size[$1] = size[$1] " " $5
}
END {
	base = median(wall["tar czf"]); basesize = median(size["tar czf"])
	print "| command | wall s | CPU s (user+sys) | peak RSS MiB | output bytes | ratio | wall vs tar czf | size vs tar czf |"
	print "|---|---:|---:|---:|---:|---:|---:|---:|"
	for (i = 1; i <= n; i++) {
		k = order[i]; w = median(wall[k]); s = median(size[k])
		printf "| %s | %.2f | %.2f | %.1f | %d | %.2f | %.2f× | %+.1f%% |\n", k, w, median(cpu[k]), median(rss[k]) / 1024, s, log_bytes / s, w / base, (s / basesize - 1) * 100
	}
}' "$TIMES")

{
	echo "Input: callmanager.log, $LOG_BYTES bytes (bench/genlog, seed $SEED); median of $RUNS runs; $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), Linux $(uname -r); nice $NICE; load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo
	echo "$table"
	echo
	echo "Every pbxagent archive passed \`pbxagent verify\`. Raw runs (command, wall s, CPU s, peak RSS KiB, bytes):"
	echo
	echo '```'
	cat "$TIMES"
	echo '```'
} | tee "$OUT/results.md"
