#!/usr/bin/env bash
# bench/idle.sh: idle cost of `pbxagent run` against prometheus-node-exporter.
#
# Starts, in the same run, `pbxagent run` (twice: flight recorder on, its
# default, and off) with every check on at the
# default interval (1m) and /metrics enabled, and Debian's
# prometheus-node-exporter with its default collectors, both on loopback;
# scrapes each every SCRAPE seconds for DURATION seconds with curl, and
# reports for each: RSS after the first scrape and at the end, peak RSS
# (VmHWM), mean CPU (user+sys over the run, percent of one core), and the
# median time of one scrape as curl measures it (connection to last byte).
# A second table splits each process's resident memory at the end
# (/proc/PID/smaps_rollup): anonymous (heap, stacks, runtime) and
# file-backed (pages of the executable), with pbxagent's kernel capture
# rings counted apart (they are mapped from the capture sockets).
#
#   flock /tmp/pbxagent-bench.lock bench/idle.sh
#   DURATION=60 bench/idle.sh            # a shorter run
#
# Needs Go, curl and prometheus-node-exporter.
set -euo pipefail

DURATION=${DURATION:-300}
SCRAPE=${SCRAPE:-15}
die() { echo "idle.sh: $*" >&2; exit 1; }
for c in go curl prometheus-node-exporter; do command -v "$c" >/dev/null || die "$c is not installed"; done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/idle-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# Built as scripts/package.sh builds the shipped binaries.
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$WORK/pbxagent" ./cmd/pbxagent)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
AP=$(free_port); BP=$(free_port); NP=$(free_port)

# A fake PortSIP install so every check has something to read; the REST API
# checks find no PBX listening and report it, as on a host whose PBX is down.
DATA=$WORK/portsip/pbx
mkdir -p "$DATA/log" "$WORK/state"
echo "22.3.1" > "$DATA/VERSION"
for i in $(seq 1 50); do echo "2026-11-27 10:00:00 [INFO] line $i" >> "$DATA/log/callmanager.log"; done
cat > "$WORK/pbxagent.yaml" <<YAML
pbx:
  data_dir: $DATA
agent:
  state_dir: $WORK/state
metrics:
  enabled: true
  listen: 127.0.0.1:$AP
YAML
# The same agent with the flight recorder off (default on): its kernel
# capture rings are resident memory node_exporter has no counterpart for.
mkdir -p "$WORK/state-b"
sed -e "s|$WORK/state|$WORK/state-b|" -e "s|127.0.0.1:$AP|127.0.0.1:$BP|" "$WORK/pbxagent.yaml" > "$WORK/norec.yaml"
printf 'recorder:\n  enabled: false\n' >> "$WORK/norec.yaml"

"$WORK/pbxagent" run --config "$WORK/pbxagent.yaml" > "$WORK/agent.log" 2>&1 &
PIDS+=($!); APID=$!
"$WORK/pbxagent" run --config "$WORK/norec.yaml" > "$WORK/agent-b.log" 2>&1 &
PIDS+=($!); BPID=$!
prometheus-node-exporter --web.listen-address=127.0.0.1:$NP > "$WORK/ne.log" 2>&1 &
PIDS+=($!); NPID=$!
sleep 2

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

# Scrape time: from connection established to the last byte (so the
# shared machine's connection setup does not count).
scrape() { curl -s -o /dev/null -w '%{time_connect} %{time_total}\n' "http://127.0.0.1:$1/metrics" | awk '{printf "%.6f\n", $2-$1}'; }
scrape "$AP" >> "$WORK/a.times"; scrape "$BP" >> "$WORK/b.times"; scrape "$NP" >> "$WORK/n.times"
A_RSS0=$(rss_kib $APID); B_RSS0=$(rss_kib $BPID); N_RSS0=$(rss_kib $NPID)
A_CPU0=$(cpu_ticks $APID); B_CPU0=$(cpu_ticks $BPID); N_CPU0=$(cpu_ticks $NPID)
START=$(date +%s.%N)
end=$(( $(date +%s) + DURATION ))
while (( $(date +%s) < end )); do
	sleep "$SCRAPE"
	scrape "$AP" >> "$WORK/a.times"; scrape "$BP" >> "$WORK/b.times"; scrape "$NP" >> "$WORK/n.times"
done
ELAPSED=$(echo "$(date +%s.%N) - $START" | bc)
A_CPU1=$(cpu_ticks $APID); B_CPU1=$(cpu_ticks $BPID); N_CPU1=$(cpu_ticks $NPID)
A_RSS1=$(rss_kib $APID); B_RSS1=$(rss_kib $BPID); N_RSS1=$(rss_kib $NPID)
A_HWM=$(hwm_kib $APID); B_HWM=$(hwm_kib $BPID); N_HWM=$(hwm_kib $NPID)
# split: anonymous, file-backed executable pages, capture rings (MiB)
split() {
	local anon file ring
	anon=$(awk '/^Anonymous:/ {print $2}' "/proc/$1/smaps_rollup")
	file=$(awk -v exe="$(readlink "/proc/$1/exe")" '/^[0-9a-f]+-[0-9a-f]+ / {m = ($6 == exe)} m && /^Rss:/ {s += $2} END {print s + 0}' "/proc/$1/smaps")
	ring=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {m = ($6 ~ /^socket:|packet/)} m && /^Rss:/ {s += $2} END {print s + 0}' "/proc/$1/smaps")
	printf '| %s | %.1f | %.1f | %.1f | %.1f |\n' "$2" "$(echo "$(rss_kib "$1")/1024" | bc -l)" "$(echo "$anon/1024" | bc -l)" \
		"$(echo "$file/1024" | bc -l)" "$(echo "$ring/1024" | bc -l)"
}
SPLIT_A=$(split $APID "pbxagent run (recorder on)"); SPLIT_B=$(split $BPID "pbxagent run (recorder off)"); SPLIT_N=$(split $NPID "prometheus-node-exporter")
median() { sort -n "$1" | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]*1000}'; }
row() { # name rss0 rss1 hwm cpu0 cpu1 times
	printf '| %s | %.1f | %.1f | %.1f | %.3f | %s |\n' "$1" "$(echo "$2/1024" | bc -l)" "$(echo "$3/1024" | bc -l)" \
		"$(echo "$4/1024" | bc -l)" "$(echo "($6-$5)/$HZ/$ELAPSED*100" | bc -l)" "$(median "$7")"
}
echo "duration ${ELAPSED%.*} s, one scrape every $SCRAPE s, $(wc -l < "$WORK/a.times") scrapes each"
echo "| process | RSS start MiB | RSS end MiB | peak RSS MiB | mean CPU % | median scrape ms |"
echo "|---|---:|---:|---:|---:|---:|"
row "pbxagent run (all checks, /metrics, recorder on)" "$A_RSS0" "$A_RSS1" "$A_HWM" "$A_CPU0" "$A_CPU1" "$WORK/a.times"
row "pbxagent run (all checks, /metrics, recorder off)" "$B_RSS0" "$B_RSS1" "$B_HWM" "$B_CPU0" "$B_CPU1" "$WORK/b.times"
row "prometheus-node-exporter $(prometheus-node-exporter --version 2>&1 | awk 'NR==1{print $3}')" "$N_RSS0" "$N_RSS1" "$N_HWM" "$N_CPU0" "$N_CPU1" "$WORK/n.times"
echo
echo "| process (at the end) | RSS MiB | anonymous MiB | executable file MiB | capture rings MiB |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "$SPLIT_A" "$SPLIT_B" "$SPLIT_N"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
