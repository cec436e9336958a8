#!/usr/bin/env bash
# bench/capture.sh: packet capture benchmark, pbxagent against tcpdump.
#
# For each rate it sends LOAD seconds of 172-byte UDP datagrams (RTP-sized,
# plus one SIP datagram in 100 to port 5060) to 127.0.0.1 with bench/udpgen,
# while `pbxagent bundle --duration ... --iface lo` and
# `tcpdump -i lo -w ... -B 32768 'udp port 5060 or udp portrange 45000-65000'`
# capture the same window concurrently. It prints one table row per run:
# packets sent, packets each tool captured, kernel drops of each and the CPU
# seconds (user+sys) of each process. Results and logs are kept in $KEEP_DIR
# when it is set, otherwise in a temporary directory that is removed.
#
#   sudo bench/capture.sh
#   sudo RATES="10000 100000 0" LOAD=5 bench/capture.sh   # rate 0 = as fast as possible
#
# Needs root, Go, tcpdump, /usr/bin/time, jq and tar; capinfos (Wireshark)
# is used to count the packets in the files when it is installed.
set -euo pipefail

RATES=${RATES-"10000 50000 100000 150000 200000 250000 0"}
IMMEDIATE_RATES=${IMMEDIATE_RATES-"100000"} # extra runs with tcpdump --immediate-mode
LOAD=${LOAD:-10}                               # seconds of load per run
VERIFY=${VERIFY:-1}                            # count packets in both files with capinfos
FILTER='udp port 5060 or udp portrange 45000-65000'

die() { echo "capture.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (sudo bench/capture.sh)"
for c in go tcpdump jq tar; do
	command -v "$c" >/dev/null || die "$c is not installed"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is not installed (apt-get install -y time)"
[[ $VERIFY == 1 ]] && ! command -v capinfos >/dev/null && VERIFY=0

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n ${KEEP_DIR:-} ]]; then
	WORK=$KEEP_DIR
	mkdir -p "$WORK"
else
	WORK=$(mktemp -d /tmp/capture-bench.XXXXXX)
fi
chmod 755 "$WORK" # tcpdump writes its file after dropping to its own user
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -INT "$p" 2>/dev/null || true
	done
	sleep 0.2
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	[[ -n ${KEEP_DIR:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building pbxagent and udpgen" >&2
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$WORK/pbxagent" ./cmd/pbxagent)
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$WORK/udpgen" ./bench/udpgen)

TCK=$(getconf CLK_TCK)
# cpu PID: user+sys CPU seconds of a running process so far.
cpu() { awk -v t="$TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo NA; }
# child PID: the process /usr/bin/time started.
child() {
	local i c
	for i in $(seq 100); do
		c=$(cat "/proc/$1/task/$1/children" 2>/dev/null || true)
		[[ -n ${c// /} ]] && { echo "${c%% *}"; return; }
		sleep 0.02
	done
	die "no child of $1"
}
# waitfor FILE TEXT SECONDS
waitfor() {
	local i
	for i in $(seq $(($3 * 20))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	die "timed out waiting for \"$2\" in $1: $(tail -3 "$1")"
}
loctr() { cat /sys/class/net/lo/statistics/rx_dropped; }
softnet_drops() {
	local s=0 a b _
	while read -r a b _; do
		s=$((s + 16#$b))
	done </proc/net/softnet_stat
	echo "$s"
}

# run RATE MODE: one run; MODE is "" or "immediate".
run() {
	local rate=$1 mode=$2 d="$WORK/run-${1}${2:+-$2}"
	mkdir -p "$d/state" "$d/out" "$d/pbx"
	chmod 755 "$d"
	cat >"$d/pbxagent.yaml" <<-EOF
		pbx:
		  data_dir: $d/pbx
		agent:
		  state_dir: $d/state
		bundle:
		  output_dir: $d/out
		  reserve_percent: 0
		  reserve_min: 64MiB
	EOF
	local tdopt=()
	[[ $mode == immediate ]] && tdopt=(--immediate-mode)
	local win=$((LOAD + 3))
	local lodrop0 sn0
	lodrop0=$(loctr)
	sn0=$(softnet_drops)

	/usr/bin/time -f '%U %S %e' -o "$d/tcpdump.time" \
		tcpdump -i lo -w "$d/tcpdump.pcap" -B 32768 "${tdopt[@]}" "$FILTER" 2>"$d/tcpdump.err" &
	local ttd=$! td
	PIDS+=("$ttd")
	td=$(child "$ttd")
	PIDS+=("$td")
	/usr/bin/time -f '%U %S %e' -o "$d/pbxagent.time" \
		"$WORK/pbxagent" bundle --duration "${win}s" --iface lo --no-capture=false --config "$d/pbxagent.yaml" \
		--max-capture-size 8GiB --max-packets 100000000 --json >"$d/pbxagent.json" 2>"$d/pbxagent.err" &
	local tpa=$! pa
	PIDS+=("$tpa")
	pa=$(child "$tpa")
	PIDS+=("$pa")
	waitfor "$d/tcpdump.err" "listening on" 10
	waitfor "$d/pbxagent.err" "reproduce the problem now" 10
	local pa_cpu0 td_cpu0
	pa_cpu0=$(cpu "$pa")
	td_cpu0=$(cpu "$td")

	"$WORK/udpgen" --rate "$rate" --duration "${LOAD}s" >"$d/udpgen.txt" &
	local gen=$!
	PIDS+=("$gen")
	wait "$gen"

	# Both tools get one second to catch up, then the capture phase ends.
	sleep 1
	local pa_cpu1 td_cpu1
	pa_cpu1=$(cpu "$pa")
	td_cpu1=$(cpu "$td")
	kill -INT "$td"
	wait "$ttd" || true
	wait "$tpa" || die "pbxagent bundle failed: $(tail -5 "$d/pbxagent.err")"
	PIDS=()

	local sent achieved
	sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$d/udpgen.txt")
	achieved=$(sed -n 's/.*rate_pps=\([0-9]*\).*/\1/p' "$d/udpgen.txt")
	local td_capt td_recv td_drop
	td_capt=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured.*/\1/p' "$d/tcpdump.err")
	td_recv=$(sed -n 's/^\([0-9]*\) packets\{0,1\} received by filter.*/\1/p' "$d/tcpdump.err")
	td_drop=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' "$d/tcpdump.err")
	local archive man
	archive=$(jq -r .path "$d/pbxagent.json")
	man=$(tar -xzf "$archive" -O manifest.json)
	local pa_seen pa_written pa_drop pa_trunc
	pa_seen=$(jq -r .sections.capture.seen <<<"$man")
	pa_written=$(jq -r .sections.capture.written <<<"$man")
	pa_drop=$(jq -r .sections.capture.kernel_dropped <<<"$man")
	pa_trunc=$(jq -r .sections.capture.truncated <<<"$man")
	local td_file=- pa_file=- pa_match=-
	if [[ $VERIFY == 1 ]]; then
		# pbxagent's default filter also takes ICMP, IP fragments and the
		# other SIP ports, so its file is also counted through tcpdump's
		# filter: other traffic on lo must not pass for a difference.
		td_file=$(capinfos -c -M -r -T "$d/tcpdump.pcap" | awk -F'\t' '{ print $2 }')
		tar -xzf "$archive" -C "$d" capture/capture.pcapng
		pa_file=$(capinfos -c -M -r -T "$d/capture/capture.pcapng" | awk -F'\t' '{ print $2 }')
		tcpdump -r "$d/capture/capture.pcapng" -w "$d/match.pcap" "$FILTER" 2>/dev/null
		pa_match=$(capinfos -c -M -r -T "$d/match.pcap" | awk -F'\t' '{ print $2 }')
	fi
	rm -rf "$d/tcpdump.pcap" "$d/match.pcap" "$d/capture" "$d/out"
	local pa_tot td_tot pa_cap td_cap
	pa_tot=$(awk '{ printf "%.2f", $1 + $2 }' "$d/pbxagent.time")
	td_tot=$(awk '{ printf "%.2f", $1 + $2 }' "$d/tcpdump.time")
	pa_cap=$(awk -v a="$pa_cpu0" -v b="$pa_cpu1" 'BEGIN { printf "%.2f", b - a }')
	td_cap=$(awk -v a="$td_cpu0" -v b="$td_cpu1" 'BEGIN { printf "%.2f", b - a }')
	local lodrop sn
	lodrop=$(($(loctr) - lodrop0))
	sn=$(($(softnet_drops) - sn0))
	[[ $pa_trunc == true ]] && pa_written="$pa_written (truncated)"

	printf '| %s%s | %s | %s | %s / %s / %s | %s | %s / %s | %s | %s | %s | %s | %s | %s |\n' \
		"$([[ $rate == 0 ]] && echo max || echo "$rate")" "${mode:+ (tcpdump $mode)}" \
		"$sent" "$achieved" \
		"$pa_written" "$pa_file" "$pa_match" "$pa_drop" \
		"$td_capt" "$td_file" "$td_drop" \
		"$pa_cap" "$pa_tot" "$td_cap" "$td_tot" "$((lodrop + sn))"
	echo "$rate,$mode,$sent,$achieved,$pa_seen,$pa_written,$pa_file,$pa_match,$pa_drop,$td_capt,$td_recv,$td_file,$td_drop,$pa_cpu0,$pa_cap,$pa_tot,$td_cap,$td_tot,$lodrop,$sn" >>"$WORK/results.csv"
}

echo "rate,mode,sent,achieved_pps,pa_seen,pa_written,pa_file,pa_file_matching_tcpdump_filter,pa_kernel_dropped,td_captured,td_received_by_filter,td_file,td_kernel_dropped,pa_cpu_at_arm,pa_cpu_capture,pa_cpu_total,td_cpu_capture,td_cpu_total,lo_rx_dropped,softnet_dropped" >"$WORK/results.csv"
echo "$(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r), $(tcpdump --version 2>&1 | head -2 | tr '\n' ' ')"
echo "load: ${LOAD}s of 172-byte UDP datagrams to 127.0.0.1 per run; CPU in seconds (user+sys); capture = from armed to 1 s after the load"
echo
echo "| target pps | sent | achieved pps | pbxagent written / in file / in file matching tcpdump filter | pbxagent kernel drops | tcpdump captured / in file | tcpdump kernel drops | pbxagent CPU capture | pbxagent CPU total | tcpdump CPU capture | tcpdump CPU total | lo/backlog drops |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in $RATES; do
	run "$r" ""
done
for r in $IMMEDIATE_RATES; do
	run "$r" immediate
done
echo
if [[ -n ${KEEP_DIR:-} ]]; then
	echo "raw results and logs in $WORK" >&2
else
	echo "raw results (CSV):" >&2
	cat "$WORK/results.csv" >&2
fi
