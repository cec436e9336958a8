#!/usr/bin/env bash
# Builds bin/pbxagent (static, CGO_ENABLED=0) and makes a support bundle on
# this host with a 30 s live window; extra arguments go to `pbxagent bundle`,
# e.g. scripts/bundle.sh --duration 60s --output /mnt/usb. Run it as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o bin/pbxagent ./cmd/pbxagent
exec ./bin/pbxagent bundle --duration "${DURATION:-30s}" "$@"
