#!/usr/bin/env bash
# Runs the whole test suite on a Debian 12 machine with Go 1.26: installs
# what the tests need (packages and Go tools), checks formatting and vet for
# every target, cross-builds linux/amd64, linux/arm64 and windows/amd64, then
# runs the unit and end-to-end tests. Run it as root: the capture and disk
# tests need raw sockets and tmpfs mounts.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin"
export CGO_ENABLED=0
# A test that needs root or a tool fails under CI instead of skipping
# (internal/testutil): this script is what CI runs.
export CI="${CI:-1}"

need_pkgs=()
for pair in minisign:minisign tshark:tshark tcpdump:tcpdump sipp:sip-tester pigz:pigz zstd:zstd unzip:unzip \
	ip:iproute2 tar:tar setpriv:util-linux debootstrap:debootstrap lintian:lintian rpm:rpm \
	osslsigncode:osslsigncode openssl:openssl systemd-analyze:systemd man:man-db \
	chromium:chromium kamailio:kamailio age:age prometheus:prometheus promtool:prometheus \
	prometheus-alertmanager:prometheus-alertmanager systemd-nspawn:systemd-container tmux:tmux \
	gcc:gcc prometheus-node-exporter:prometheus-node-exporter ssh-keygen:openssh-client; do
	cmd=${pair%%:*} pkg=${pair#*:}
	command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
# Kamailio's TLS module ships in its own package and has no command to look for.
dpkg -s kamailio-tls-modules >/dev/null 2>&1 || need_pkgs+=(kamailio-tls-modules)
if ((${#need_pkgs[@]})); then
	echo "== installing packages: ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
if ! command -v mailpit >/dev/null 2>&1; then
	echo "== installing mailpit (a real SMTP server for the alert tests)"
	go install github.com/axllent/mailpit@v1.33.1
fi
if ! command -v versitygw >/dev/null 2>&1; then
	echo "== installing versitygw (a real S3 server for the upload tests)"
	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
if ! command -v staticcheck >/dev/null 2>&1; then
	echo "== installing staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$unformatted" ]]; then
	echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi

echo "== go vet (linux, windows)"
go vet ./...
GOOS=windows GOARCH=amd64 go vet ./...

echo "== staticcheck"
staticcheck ./...
GOOS=windows staticcheck ./...

echo "== build linux/amd64, linux/arm64, windows/amd64"
mkdir -p dist/test
for target in linux/amd64 linux/arm64 windows/amd64; do
	os=${target%/*} arch=${target#*/}
	ext=""; [[ $os == windows ]] && ext=.exe
	GOOS=$os GOARCH=$arch go build -trimpath -o "dist/test/pbxagent-$os-$arch$ext" ./cmd/pbxagent
done

echo "== tests (unit and end-to-end, race detector on)"
# -race needs cgo: this test run is the only place CGO_ENABLED=1 is used;
# every binary built above and by the tests' own builds of the shipped
# command stays static.
CGO_ENABLED=1 go test -race -count=1 -timeout 25m ./... 2>&1 | tee /tmp/pbxagent-test.log
# The man page generator is built only for packages (-tags genman).
CGO_ENABLED=1 go test -race -count=1 -tags genman -run TestManPages ./cmd/pbxagent 2>&1 | tee -a /tmp/pbxagent-test.log
