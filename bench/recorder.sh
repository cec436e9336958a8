#!/usr/bin/env bash
# bench/recorder.sh: the flight recorder of `pbxagent run` against a tcpdump
# ring (`tcpdump -i any -G 60 -W N -w ring-%s.pcapng`) with the same kernel
# filter, and Debian's prometheus-node-exporter idling (scraped every 15 s)
# as the RSS yardstick, over the same loopback load at rising rates:
#
#   sip      sipp's built-in uac -> uas, CPS INVITE dialogs per second, 127.0.0.1:5060,
#            for SIP_LOAD seconds (default 120: enough clock ticks to compare CPU)
#   rtp-N    bench/udpgen, N RTP-sized (172-byte) datagrams/s into 45000.. (1 SIP in 100)
#   idle     no load for SIP_LOAD seconds: the service's own cost without traffic
#
# Every step runs REPEAT times (default 1), rows numbered.
#
# Each step starts a fresh `pbxagent run` (throwaway config and state folder,
# PBX pointed at an empty data folder, mail off, no alert bundles: the
# REST API check fails after a minute and would take one) and a fresh tcpdump, waits
# until both record, runs LOAD seconds of load, waits for both to write it
# out, stops both and prints one row: packets each recorded inside the load
# window (both files cut to the same window with editcap, counted with
# capinfos; the recorder's segments are gzip-compressed .pcapng.gz, which
# the Wireshark tools read directly), kernel drops of each, CPU seconds of each from armed to stop:
# utime+stime of /proc/PID/stat (clock ticks) and the scheduler's run time
# in nanoseconds (/proc/PID/task/*/schedstat, summed over the threads), bytes each wrote (file sizes, the recorder's
# indexes included; pbxagent also /proc/PID/io write_bytes), peak RSS (VmHWM)
# of pbxagent, node_exporter and tcpdump.
# The filter given to tcpdump is the one the recorder reports in its log.
#
#   sudo flock /tmp/pbxagent-bench.lock bench/recorder.sh
#   sudo STEPS="sip rtp-10000" LOAD=30 SIP_LOAD=120 REPEAT=3 KEEP_DIR=/tmp/rb bench/recorder.sh
#
# It runs inside a new network namespace (unshare -n) with only its loopback up.
# Needs root, unshare, ip, Go, tcpdump, sipp, capinfos/editcap/mergecap (Wireshark), jq,
# curl and prometheus-node-exporter.
set -euo pipefail

STEPS=${STEPS-"sip rtp-10000 rtp-50000 rtp-100000"}
LOAD=${LOAD:-30}  # seconds of load per RTP step
SIP_LOAD=${SIP_LOAD:-120} # seconds of load of the sip and idle steps
REPEAT=${REPEAT:-1}
CPS=${CPS:-100}   # SIP calls per second
NE_PORT=${NE_PORT:-19111}

die() { echo "recorder.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root"
# The bench runs in a network namespace of its own (its own loopback), so
# neither tool sees other traffic of the host and its load reaches no one.
if [[ -z ${RECBENCH_NETNS:-} ]]; then
	RECBENCH_NETNS=1 exec unshare -n "$0" "$@"
fi
ip link set lo up
for c in go tcpdump sipp capinfos editcap mergecap jq curl prometheus-node-exporter; do
	command -v "$c" >/dev/null || die "$c is not installed"
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n ${KEEP_DIR:-} ]]; then
	WORK=$KEEP_DIR
	mkdir -p "$WORK"
else
	WORK=$(mktemp -d /tmp/recorder-bench.XXXXXX)
fi
chmod 755 "$WORK"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	sleep 0.3
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
cpu() { awk -v t="$TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }
# cpuns PID: nanoseconds the process's threads ran (the scheduler's account,
# not rounded to clock ticks; threads that exited are not counted, and
# neither tool ends threads while it records).
cpuns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
hwm() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
wbytes() { awk '/^write_bytes/ { print $2 }' "/proc/$1/io"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
# waitfor FILE TEXT SECONDS
waitfor() {
	local i
	for i in $(seq $(($3 * 20))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	die "timed out waiting for \"$2\" in $1: $(tail -3 "$1")"
}
# count FILE... : packets between T0 and T1 in the files (merged in time order).
count() {
	mergecap -w "$WORK/merged.pcapng" "$@"
	editcap -A "$T0" -B "$T1" "$WORK/merged.pcapng" "$WORK/window.pcapng"
	capinfos -c -M -r -T "$WORK/window.pcapng" | awk -F'\t' '{ print $2 }'
	rm -f "$WORK/merged.pcapng" "$WORK/window.pcapng"
}
ts() { date -u '+%Y-%m-%d %H:%M:%S.%N'; }

# node_exporter idles for the whole run with Debian's default collectors,
# scraped every 15 s as Prometheus would.
prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" >"$WORK/node_exporter.log" 2>&1 &
NE=$!
PIDS+=("$NE")
(while sleep 15; do curl -fsS "http://127.0.0.1:$NE_PORT/metrics" >/dev/null || true; done) &
PIDS+=("$!")
sleep 2
curl -fsS "http://127.0.0.1:$NE_PORT/metrics" >/dev/null || die "node_exporter does not answer: $(tail -3 "$WORK/node_exporter.log")"

# load STEP DIR SECONDS: the step's traffic.
load() {
	local secs=$3
	case $1 in
	idle)
		sleep "$secs"
		;;
	sip)
		# In the step's folder: -trace_err writes uas_<pid>_errors.log there.
		(cd "$2" && sipp -sn uas -i 127.0.0.1 -p 5060 -bg -trace_err >uas.txt 2>&1) || true
		sleep 0.5
		local uas
		uas=$(pgrep -n -f "sipp -sn uas -i 127.0.0.1 -p 5060" || true)
		[[ -n $uas ]] || die "sipp uas did not start: $(cat "$2/uas.txt")"
		# timeout(1) too: now and then sipp's own -timeout does not end it.
		timeout $((secs + 25)) sipp -sn uac 127.0.0.1:5060 -i 127.0.0.1 -p 5070 -r "$CPS" -m $((CPS * secs)) -d 0 \
			-timeout $((secs + 20))s -nostdin >"$2/uac.txt" 2>&1 || echo "sipp uac exit $?" >>"$2/uac.txt"
		kill -TERM "$uas" 2>/dev/null || true
		;;
	rtp-*)
		"$WORK/udpgen" --rate "${1#rtp-}" --duration "${secs}s" >"$2/udpgen.txt"
		;;
	esac
}

# step NAME RUN: one measured step.
step() {
	local name=$1 d="$WORK/$1.$2" secs=$LOAD
	[[ $name != sip && $name != idle ]] || secs=$SIP_LOAD
	mkdir -p "$d/state" "$d/pbx" "$d/td"
	chmod 755 "$d" "$d/td"
	cat >"$d/pbxagent.yaml" <<-EOF
		pbx:
		  data_dir: $d/pbx
		  install_dir: $d/pbx
		  docker_socket: ""
		agent:
		  state_dir: $d/state
		api:
		  url: http://127.0.0.1:1/api
		recorder:
		  enabled: true
		  auto_bundle:
		    enabled: false
	EOF
	"$WORK/pbxagent" run --config "$d/pbxagent.yaml" >"$d/pbxagent.log" 2>&1 &
	local pa=$!
	PIDS+=("$pa")
	waitfor "$d/pbxagent.log" "flight recorder recording" 20
	local filter
	filter=$(grep -m1 "flight recorder recording" "$d/pbxagent.log" | sed -n 's/.*filter="\(.*\)"$/\1/p; t; s/.*filter=\([^ ]*\).*/\1/p')
	[[ -n $filter ]] || die "no filter in the recorder's log line"
	echo "$filter" >"$d/filter.txt"
	# -W is large enough that nothing is overwritten in a step; -Z root
	# keeps tcpdump able to write into the work folder.
	tcpdump -i any -G 60 -W 10 -Z root -w "$d/td/ring-%s.pcapng" "$filter" 2>"$d/tcpdump.err" &
	local td=$!
	PIDS+=("$td")
	waitfor "$d/tcpdump.err" "listening on" 10
	sleep 1
	local pc0 tc0 pw0 pn0 tn0
	pc0=$(cpu "$pa")
	tc0=$(cpu "$td")
	pn0=$(cpuns "$pa")
	tn0=$(cpuns "$td")
	pw0=$(wbytes "$pa")

	T0=$(ts)
	load "$name" "$d" "$secs"
	T1=$(ts)
	echo "$T0 $T1" >"$d/window.txt"
	# The recorder flushes its capture about once a second and its status
	# every 5 s: give both time to write the step out.
	sleep 7
	local pc1 tc1 pw1 phwm pn1 tn1
	pc1=$(cpu "$pa")
	tc1=$(cpu "$td")
	pn1=$(cpuns "$pa")
	tn1=$(cpuns "$td")
	pw1=$(wbytes "$pa")
	phwm=$(hwm "$pa")
	local thwm
	thwm=$(hwm "$td")
	local st="$d/state/recorder/status.json"
	local p_kdrop p_rdrop p_pk
	p_kdrop=$(jq -r .kernel_dropped "$st")
	p_rdrop=$(jq -r .ring.dropped "$st")
	p_pk=$(jq -r .ring.packets "$st")
	kill -INT "$td"
	wait "$td" || true
	kill -TERM "$pa"
	wait "$pa" || true
	PIDS=("$NE" "${PIDS[1]}")

	local t_capt t_drop
	t_capt=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured.*/\1/p' "$d/tcpdump.err")
	t_drop=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' "$d/tcpdump.err")
	local p_bytes t_bytes
	p_bytes=$(find "$d/state/recorder" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	t_bytes=$(find "$d/td" -name 'ring-*' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	local p_win t_win
	# shellcheck disable=SC2046 # the work folder's paths have no spaces
	p_win=$(count $(find "$d/state/recorder" -name 'seg-*.pcapng' -o -name 'seg-*.pcapng.gz'))
	t_win=$(count "$d"/td/ring-*)
	local sent
	case $name in
	idle) sent="none" ;;
	sip) sent="$(sed -n 's/.*Successful call.*| *\([0-9]*\) *$/\1/p' "$d/uac.txt" | tail -1) calls ok" ;;
	*) sent="$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$d/udpgen.txt") pkts, $(sed -n 's/.*rate_pps=\([0-9]*\).*/\1/p' "$d/udpgen.txt") pps" ;;
	esac
	local nhwm
	nhwm=$(hwm "$NE")
	printf '| %s #%s | %ss, %s | %s / %s | %s / %s | %s | %s | %s | %s | %s | %s MiB (io %s MiB) | %s MiB | %s | %s | %s |\n' \
		"$name" "$2" "$secs" "$sent" "$p_win" "$t_win" "$p_pk" "$t_capt" "$p_kdrop" "$p_rdrop" "$t_drop" \
		"$(sub "$pc0" "$pc1") / $(sub "$tc0" "$tc1")" "$(secs "$pn0" "$pn1") / $(secs "$tn0" "$tn1")" \
		"$(mib "$p_bytes")" "$(mib $((pw1 - pw0)))" "$(mib "$t_bytes")" "$phwm" "$nhwm" "$thwm"
	echo "$name,$2,$secs,$p_win,$t_win,$p_pk,$t_capt,$p_kdrop,$p_rdrop,$t_drop,$(sub "$pc0" "$pc1"),$(sub "$tc0" "$tc1"),$(secs "$pn0" "$pn1"),$(secs "$tn0" "$tn1"),$p_bytes,$((pw1 - pw0)),$t_bytes,$phwm,$nhwm,$thwm" >>"$WORK/results.csv"
	[[ -n ${KEEP_DIR:-} ]] || rm -rf "$d/td" "$d/state/recorder"
}

echo "step,run,seconds,pa_window,td_window,pa_ring_packets,td_captured,pa_kernel_dropped,pa_ring_dropped,td_kernel_dropped,pa_cpu,td_cpu,pa_cpu_sched,td_cpu_sched,pa_bytes,pa_write_bytes,td_bytes,pa_vmhwm_mib,ne_vmhwm_mib,td_vmhwm_mib" >"$WORK/results.csv"
echo "$(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r), $(tcpdump --version 2>&1 | head -1), $(prometheus-node-exporter --version 2>&1 | head -1)"
echo "load: ${LOAD}s per RTP step, ${SIP_LOAD}s per sip/idle step, $REPEAT run(s) each; loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| step | load | packets in load window: pbxagent / tcpdump | total: ring / tcpdump captured | pbxagent kernel drops | pbxagent ring drops | tcpdump kernel drops | CPU s (ticks) pbxagent / tcpdump | CPU s (schedstat) pbxagent / tcpdump | pbxagent bytes | tcpdump bytes | pbxagent VmHWM MiB | node_exporter VmHWM MiB | tcpdump VmHWM MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for s in $STEPS; do
	for i in $(seq "$REPEAT"); do
		step "$s" "$i"
	done
done
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -z ${KEEP_DIR:-} ]] || echo "raw results and logs in $WORK" >&2
