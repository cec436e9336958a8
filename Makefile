# Convenience targets around scripts/bundle.sh (build, then make a support
# bundle on this host) and scripts/test.sh (install test dependencies and run
# the whole suite). Both need root.

export CGO_ENABLED := 0
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
DURATION ?= 30s

.PHONY: build bundle test cross clean

build:
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/pbxagent ./cmd/pbxagent

bundle:
	DURATION=$(DURATION) ./scripts/bundle.sh

test:
	./scripts/test.sh

cross:
	GOOS=linux GOARCH=amd64 go build -trimpath -ldflags '$(LDFLAGS)' -o dist/pbxagent-linux-amd64 ./cmd/pbxagent
	GOOS=linux GOARCH=arm64 go build -trimpath -ldflags '$(LDFLAGS)' -o dist/pbxagent-linux-arm64 ./cmd/pbxagent
	GOOS=windows GOARCH=amd64 go build -trimpath -ldflags '$(LDFLAGS)' -o dist/pbxagent-windows-amd64.exe ./cmd/pbxagent

clean:
	rm -rf bin dist
