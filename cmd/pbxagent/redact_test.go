package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/pbxagent/pbxagent/config"
)

func TestTextOutputIsStripped(t *testing.T) {
	var buf bytes.Buffer
	a := &app{stdout: &buf}
	fmt.Fprintf(a.text(), "486 %s\n", "Busy\x1b]0;owned\x07 Here\x1b[2J")
	if got := buf.String(); got != "486 Busy Here\n" {
		t.Errorf("text output = %q", got)
	}
}

func TestAgentLogIsRedacted(t *testing.T) {
	var buf bytes.Buffer
	cfg := config.Default()
	cfg.API.Password = "Api-Secret-42x"
	a := &app{cfg: cfg}
	log := slog.New(a.redacted(slog.NewTextHandler(&buf, nil)))
	log.Warn("login failed", "body", `{"error":"bad password Api-Secret-42x"}`, "dsn", "postgres://u:pw1@db/x")
	if s := buf.String(); strings.Contains(s, "Api-Secret-42x") || strings.Contains(s, "pw1") || !strings.Contains(s, "REDACTED") {
		t.Errorf("log line: %s", s)
	}
}

func TestServiceLogIsRedacted(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "") // stderr, not the journal
	var buf bytes.Buffer
	cfg := config.Default()
	cfg.API.Password = "Api-Secret-42x"
	a := &app{cfg: cfg, stderr: &buf}
	a.serviceLogger(slog.LevelInfo).Warn("login failed", "body", "bad password Api-Secret-42x")
	if s := buf.String(); strings.Contains(s, "Api-Secret-42x") || !strings.Contains(s, "REDACTED") {
		t.Errorf("service log line: %s", s)
	}
}
