#!/usr/bin/env bash
# bench/depcost.sh: what each large dependency costs the start-up RSS of a
# binary that links all of them, as pbxagent does.
#
# Builds, from this module (same versions as pbxagent), a small program that
# serves net/http on loopback and links the dependencies below by a blank
# import (so their package initialisers run, as in pbxagent), once with all
# of them and once without each; starts each build three times, fetches one
# page and reads VmHWM. The difference "all" minus "all but X" is what X
# adds in the company of the others (shared standard-library code counted
# once). It measures linking and initialising only, not the code pbxagent
# runs of each library.
#
#   bench/depcost.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
declare -A DEPS=(
	[archives]="github.com/mholt/archives"
	[minio-go]="github.com/minio/minio-go/v7"
	[go-mail]="github.com/wneessen/go-mail"
	[age]="filippo.io/age filippo.io/age/agessh"
	[exporter-toolkit]="github.com/prometheus/exporter-toolkit/web"
	[client_golang]="github.com/prometheus/client_golang/prometheus github.com/prometheus/client_golang/prometheus/promhttp"
	[gopacket]="github.com/gopacket/gopacket/layers github.com/gopacket/gopacket/pcapgo"
	[gopsutil]="github.com/shirou/gopsutil/v4/disk github.com/shirou/gopsutil/v4/host github.com/shirou/gopsutil/v4/process github.com/shirou/gopsutil/v4/cpu github.com/shirou/gopsutil/v4/mem"
	[service]="github.com/kardianos/service"
	[cobra]="github.com/spf13/cobra"
	[yaml]="go.yaml.in/yaml/v3"
	[progressbar]="github.com/schollz/progressbar/v3"
)
SRC=$(mktemp -d "$ROOT/bench/.depcost.XXXXXX")
BIN=$(mktemp -d /tmp/depcost.XXXXXX)
trap 'rm -rf "$SRC" "$BIN"' EXIT

gen() { # name imports...
	local d=$SRC/$1
	shift
	mkdir -p "$d"
	{
		echo 'package main'
		echo 'import ("net/http"; "os"'
		for i in "$@"; do echo "_ \"$i\""; done
		echo ')'
		echo 'func main() { go http.ListenAndServe("127.0.0.1:"+os.Args[1], nil); select {} }'
	} >"$d/main.go"
}
all=()
for k in "${!DEPS[@]}"; do all+=(${DEPS[$k]}); done
gen all "${all[@]}"
for k in "${!DEPS[@]}"; do
	rest=()
	for j in "${!DEPS[@]}"; do [[ $j == "$k" ]] || rest+=(${DEPS[$j]}); done
	gen "no-$k" "${rest[@]}"
done
for d in "$SRC"/*/; do
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/$(basename "$d")" "./bench/$(basename "$SRC")/$(basename "$d")")
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hwm() { # binary -> mean VmHWM KiB of three starts
	local tot=0 p i
	for i in 1 2 3; do
		"$1" "$port" &
		p=$!
		sleep 1.5
		curl -s -o /dev/null "http://127.0.0.1:$port/" || true
		sleep 0.3
		tot=$((tot + $(awk '/^VmHWM/ {print $2}' "/proc/$p/status")))
		kill "$p"
		wait "$p" 2>/dev/null || true
	done
	echo $((tot / 3))
}
ALL=$(hwm "$BIN/all")
echo "all dependencies: binary $(stat -c %s "$BIN/all") bytes, peak RSS $(awk -v k="$ALL" 'BEGIN {printf "%.1f", k / 1024}') MiB"
echo "| dependency | binary bytes saved without it | peak RSS MiB saved without it |"
echo "|---|---:|---:|"
for k in "${!DEPS[@]}"; do
	h=$(hwm "$BIN/no-$k")
	printf '| %s | %d | %.1f |\n' "$k" $(($(stat -c %s "$BIN/all") - $(stat -c %s "$BIN/no-$k"))) "$(awk -v a="$ALL" -v b="$h" 'BEGIN {print (a - b) / 1024}')"
done | sort -t'|' -k4 -rn
