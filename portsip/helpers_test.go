package portsip

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/portsiptest"
)

// Test credentials: the fake's, and a wrong password as long and distinctive,
// so that a leak in any error or log line is found by a substring search.
const (
	testUser  = portsiptest.User
	testPass  = portsiptest.Password
	wrongPass = "Wr0ng-pa55word-PLUGH"
)

// secretsOf returns every secret the fake has seen or issued.
func secretsOf(f *portsiptest.Server) []string {
	return append(f.Secrets(), testPass, wrongPass)
}

// logBuffer captures the client's log output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clock is an adjustable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestClient returns a client of f with a debug logger writing to logs.
func newTestClient(t *testing.T, f *portsiptest.Server, pass, stateDir string, logs *logBuffer, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{
		WithTimeout(5 * time.Second),
		WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)
	c, err := NewClient(f.URL, testUser, config.Secret(pass), true, stateDir, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestFakeClientID(t *testing.T) {
	if portsiptest.ClientID != ClientID {
		t.Fatalf("the fake accepts client_id %q, the client sends %q", portsiptest.ClientID, ClientID)
	}
}
