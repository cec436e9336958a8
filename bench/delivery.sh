#!/usr/bin/env bash
# Delivery benchmark, two parts. Run from the repository root:
#
#   flock /tmp/pbxagent-bench.lock bench/delivery.sh
#
# 1. Encryption while bundling a 1 GiB callmanager.log (bench/genlog):
#    pbxagent bundle (tar.gz, tar.zst) plain and with --encrypt-to, against
#    `tar czf - log | age -r KEY`. Wall time, CPU, peak RSS.
# 2. Upload of a 1 GiB bundle-sized file to a loopback versitygw (POSIX back
#    end): pbxagent upload (multipart, resumable; --parallel 1 and the
#    default 4 parts at once), pbxagent upload --url
#    (one PUT to a pre-signed URL), curl -T to a pre-signed URL, and
#    aws s3 cp when the AWS CLI is installed. Throughput, client CPU and the
#    server's CPU.
#
# Environment: RUNS=3 (median reported), SIZE=1GiB, NICE=0, CMD_TIMEOUT=600,
# PARTS="encrypt upload" (the parts to run).
# Writes the tables to stdout and bench/out/delivery.md; removes the rest.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out/delivery
RUNS=${RUNS:-3}
SIZE=${SIZE:-1GiB}
NICE=${NICE:-0}
CMD_TIMEOUT=${CMD_TIMEOUT:-600}
PARTS=${PARTS:-encrypt upload}
PBX=$OUT/pbx
STATE=$OUT/state
ARCH=$OUT/archives
S3DIR=$OUT/s3
CFG=$OUT/pbxagent.yaml
BIN=$OUT/pbxagent
TIMES=$OUT/times.tsv
S3PID=

cleanup() {
	[ -n "$S3PID" ] && kill "$S3PID" 2>/dev/null && wait "$S3PID" 2>/dev/null
	rm -rf "$PBX" "$STATE" "$ARCH" "$S3DIR" "$CFG" "$BIN" "$OUT/genlog" "$OUT/s3tool" "$TIMES" "$OUT/time.out" "$OUT/cmd.out" "$OUT/key" "$OUT/s3.log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in age age-keygen curl versitygw /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "bench/delivery.sh: $t is missing (scripts/test.sh installs it)" >&2; exit 1; }
done
mkdir -p "$PBX/log" "$STATE" "$ARCH" "$S3DIR"

echo "== build" >&2
CGO_ENABLED=0 go build -o "$BIN" ./cmd/pbxagent
CGO_ENABLED=0 go build -o "$OUT/genlog" ./bench/genlog
CGO_ENABLED=0 go build -o "$OUT/s3tool" ./bench/s3tool
"$OUT/genlog" --size "$SIZE" --seed 1 -o "$PBX/log/callmanager.log"
printf '[Network]\nsip_domain=pbx.example.com\n' >"$PBX/system.ini"
age-keygen -o "$OUT/key" 2>/dev/null
KEY=$(age-keygen -y "$OUT/key")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PBXAGENT_S3_ACCESS_KEY=benchaccess PBXAGENT_S3_SECRET_KEY=benchsecret0123456789
cat >"$CFG" <<CONF
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
delivery:
  upload:
    endpoint: http://127.0.0.1:$PORT
    bucket: bench
  retention:
    max_total_size: 0B
    max_age: 0s
CONF
"$BIN" --config "$CFG" keygen >/dev/null
cat "$PBX/log/callmanager.log" >/dev/null
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$TIMES"

# measure PART NAME COMMAND...: records "part name wall cpu rss_kib bytes server_cpu".
measure() {
	local part=$1 name=$2
	shift 2
	local s0=0 s1=0
	[ -n "$S3PID" ] && s0=$(awk '{print $14+$15}' /proc/$S3PID/stat)
	if ! nice -n "$NICE" /usr/bin/time -o "$OUT/time.out" -f '%e %U %S %M' timeout "$CMD_TIMEOUT" "$@" >"$OUT/cmd.out" 2>&1; then
		echo "bench/delivery.sh: $name failed:" >&2
		cat "$OUT/cmd.out" "$OUT/time.out" >&2
		exit 1
	fi
	[ -n "$S3PID" ] && s1=$(awk '{print $14+$15}' /proc/$S3PID/stat)
	local wall user sys rss bytes
	read -r wall user sys rss <"$OUT/time.out"
	bytes=$(find "$ARCH" -maxdepth 1 -type f -name 'pbx-support-*' ! -name '*.minisig' ! -name '*.json' -printf '%s\n' | head -n1)
	[ "$part" = upload ] && bytes=$BIGSIZE
	local cpu
	cpu=$(echo "$user $sys" | awk '{printf "%.2f", $1+$2}')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$part" "$name" "$wall" "$cpu" "$rss" "${bytes:-0}" \
		"$(echo "$s0 $s1 $(getconf CLK_TCK)" | awk '{printf "%.2f", ($2-$1)/$3}')" >>"$TIMES"
	printf '   %-28s %7ss wall %7ss cpu %8s KiB rss\n' "$name" "$wall" "$cpu" "$rss" >&2
}

echo "== part 1: encryption while bundling ($(stat -c %s "$PBX/log/callmanager.log") bytes)" >&2
[[ " $PARTS " == *" encrypt "* ]] && for run in $(seq 1 "$RUNS"); do
	echo "== run $run of $RUNS" >&2
	for fmt in tar.gz tar.zst; do
		rm -rf "$ARCH"/*
		measure encrypt "pbxagent $fmt" "$BIN" --config "$CFG" bundle --no-capture --format "$fmt"
		rm -rf "$ARCH"/*
		measure encrypt "pbxagent $fmt --encrypt-to" "$BIN" --config "$CFG" bundle --no-capture --format "$fmt" --encrypt-to "$KEY"
		f=$(ls "$ARCH"/*.age)
		"$BIN" --config "$CFG" verify --identity "$OUT/key" "$f" >/dev/null
	done
	rm -rf "$ARCH"/*
	measure encrypt "tar czf - | age -r" sh -c "tar czf - -C '$PBX' log | age -r '$KEY' >'$ARCH/pbx-support-tar.tar.gz.age'"
	age -d -i "$OUT/key" "$ARCH/pbx-support-tar.tar.gz.age" | tar tzf - >/dev/null
done
rm -rf "$ARCH"/*

echo "== part 2: upload of $SIZE to versitygw on 127.0.0.1:$PORT" >&2
BIG=$ARCH/pbx-support-bench-20261204T000000Z.tar.zst
head -c "$(numfmt --from=iec-i "${SIZE%B}")" /dev/urandom >"$BIG"
BIGSIZE=$(stat -c %s "$BIG")
SUM=$(sha256sum "$BIG" | cut -d' ' -f1)
versitygw --access "$PBXAGENT_S3_ACCESS_KEY" --secret "$PBXAGENT_S3_SECRET_KEY" --port "127.0.0.1:$PORT" --quiet posix "$S3DIR" >"$OUT/s3.log" 2>&1 &
S3PID=$!
for _ in $(seq 100); do "$OUT/s3tool" -endpoint "127.0.0.1:$PORT" mb bench 2>/dev/null && break; sleep 0.1; done
check() { # check KEY: the stored object must equal the file
	local got
	got=$("$OUT/s3tool" -endpoint "127.0.0.1:$PORT" sha256 bench "$1")
	[ "$got" = "$SUM" ] || { echo "bench/delivery.sh: object $1 SHA-256 $got, file $SUM" >&2; exit 1; }
	rm -rf "${S3DIR:?}/bench/"*
}
cat "$BIG" >/dev/null
[[ " $PARTS " == *" upload "* ]] && for run in $(seq 1 "$RUNS"); do
	echo "== run $run of $RUNS" >&2
	for par in 1 4; do
		measure upload "pbxagent upload --parallel $par" "$BIN" --config "$CFG" upload --parallel "$par" --case "r$run-$par" --json "$BIG"
		check "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["object"])' "$OUT/cmd.out")"
		rm -f "$BIG.upload.json"
	done
	URL=$("$OUT/s3tool" -endpoint "127.0.0.1:$PORT" presign bench "p$run/big")
	measure upload "pbxagent upload --url" "$BIN" --config "$CFG" upload --url "$URL" --json "$BIG"
	check "p$run/big"
	rm -f "$BIG.upload.json"
	URL=$("$OUT/s3tool" -endpoint "127.0.0.1:$PORT" presign bench "c$run/big")
	measure upload "curl -T (pre-signed)" curl -sSf -o /dev/null -T "$BIG" "$URL"
	check "c$run/big"
	if command -v aws >/dev/null; then
		measure upload "aws s3 cp" env AWS_ACCESS_KEY_ID="$PBXAGENT_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$PBXAGENT_S3_SECRET_KEY" \
			AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url "http://127.0.0.1:$PORT" s3 cp --only-show-errors "$BIG" "s3://bench/a$run/big"
		check "a$run/big"
	fi
done

{
	echo "Input: $SIZE; median of $RUNS runs; $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), Linux $(uname -r); nice $NICE; load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo
	awk -F'\t' '
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ k = $1 SUBSEP $2; if (!(k in wall)) { order[++n] = k; part[n] = $1; name[n] = $2 }
	  wall[k] = wall[k] " " $3; cpu[k] = cpu[k] " " $4; rss[k] = rss[k] " " $5; size[k] = $6; srv[k] = srv[k] " " $7 }
	END {
		print "| encryption: command | wall s | CPU s | peak RSS MiB | output bytes |"
		print "|---|---:|---:|---:|---:|"
		for (i = 1; i <= n; i++) if (part[i] == "encrypt") { k = order[i]
			printf "| %s | %.2f | %.2f | %.1f | %d |\n", name[i], median(wall[k]), median(cpu[k]), median(rss[k]) / 1024, size[k] }
		print ""
		print "| upload: command | wall s | MiB/s | client CPU s | server CPU s | client peak RSS MiB |"
		print "|---|---:|---:|---:|---:|---:|"
		for (i = 1; i <= n; i++) if (part[i] == "upload") { k = order[i]; w = median(wall[k])
			printf "| %s | %.2f | %.0f | %.2f | %.2f | %.1f |\n", name[i], w, size[k] / 1048576 / w, median(cpu[k]), median(srv[k]), median(rss[k]) / 1024 }
	}' "$TIMES"
	echo
	echo "Every encrypted bundle passed \`pbxagent verify --identity\`; every uploaded object's SHA-256 equalled the file's. Raw runs (part, command, wall s, CPU s, peak RSS KiB, bytes, server CPU s):"
	echo
	echo '```'
	cat "$TIMES"
	echo '```'
} | tee "$ROOT/bench/out/delivery.md"
