package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/portsip"
)

const (
	apiUser     = "agent-monitor"
	apiPass     = "Gw-S3cret-pa55-QUUX"
	apiBadPass  = "Gw-Wr0ng-pa55-CORGE"
	apiTokenTag = "tok-7f3a9c"
)

// fakePortSIP emulates the PortSIP REST API: /info, the token endpoint and
// /ip_filters with a bearer check.
type fakePortSIP struct {
	srv *httptest.Server

	mu       sync.Mutex
	info     string // "", "500", "502", "slow"
	filters  []map[string]any
	failList bool // /ip_filters answers 500
	logins   int
	requests int
	tokens   map[string]bool
	release  chan struct{}
}

func newFakePortSIP(t *testing.T) *fakePortSIP {
	t.Helper()
	f := &fakePortSIP{tokens: map[string]bool{}, release: make(chan struct{})}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected
	f.srv.StartTLS()
	t.Cleanup(func() {
		close(f.release)
		f.srv.Close()
	})
	return f
}

func (f *fakePortSIP) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	mode := f.info
	f.mu.Unlock()
	switch r.URL.Path {
	case "/api/info":
		switch mode {
		case "slow":
			select {
			case <-r.Context().Done():
			case <-f.release:
			}
			panic(http.ErrAbortHandler) // never answer
		case "500":
			http.Error(w, "Unknown Error", http.StatusInternalServerError)
		case "502":
			http.Error(w, "Bad Gateway", http.StatusBadGateway)
		default:
			fmt.Fprint(w, `{"version":"22.3.1"}`)
		}
	case "/api/login/oauth/token":
		_ = r.ParseForm()
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("grant_type") == "password" {
			f.logins++
			if r.PostForm.Get("username") != apiUser || r.PostForm.Get("password") != apiPass {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintf(w, `{"error":"invalid_grant","error_description":"Login failed, authentication error. (%s)"}`, r.PostForm.Get("password"))
				return
			}
		}
		tok := fmt.Sprintf("%s-%d", apiTokenTag, len(f.tokens))
		f.tokens[tok] = true
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "refresh_token": tok + "-r", "expires_in": 1800})
	case "/api/ip_filters":
		f.mu.Lock()
		defer f.mu.Unlock()
		if t, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !f.tokens[t] {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if f.failList {
			http.Error(w, "Unknown Error", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": f.filters, "count": len(f.filters)})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakePortSIP) set(fn func(f *fakePortSIP)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakePortSIP) get(fn func(f *fakePortSIP) int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fn(f)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.WriteString(string(p))
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func apiClient(t *testing.T, baseURL, pass, stateDir string, logs *syncBuffer, opts ...portsip.Option) *portsip.Client {
	t.Helper()
	if logs == nil {
		logs = &syncBuffer{}
	}
	opts = append([]portsip.Option{
		portsip.WithTimeout(3 * time.Second),
		portsip.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)
	c, err := portsip.NewClient(baseURL, apiUser, config.Secret(pass), true, stateDir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func collectReport(t *testing.T, c Collector) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := c.Collect(ctx)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if rep.Summary == "" || strings.Contains(rep.Summary, "\n") {
		t.Errorf("summary %q: want one non-empty line", rep.Summary)
	}
	if rep.State != StateOK && rep.Advice == "" {
		t.Errorf("state %v without advice", rep.State)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("report does not encode: %v", err)
	}
	t.Logf("%v: %s", rep.State, rep.Summary)
	return rep
}

func metric(rep *Report, name string) (float64, bool) {
	for _, m := range rep.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

func TestGatewayUp(t *testing.T) {
	f := newFakePortSIP(t)
	g := NewGateway(apiClient(t, f.srv.URL+"/api", "", "", nil), nil)
	rep := collectReport(t, g)
	if rep.State != StateOK || !strings.Contains(rep.Summary, "22.3.1") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	if up, _ := metric(rep, "gateway_up"); up != 1 {
		t.Errorf("gateway_up = %v", up)
	}
	if rt, ok := metric(rep, "gateway_response_time"); !ok || rt <= 0 {
		t.Errorf("gateway_response_time = %v, %v", rt, ok)
	}
	if d, ok := rep.Data.(GatewayData); !ok || d.State != portsip.GatewayUp {
		t.Errorf("data %#v", rep.Data)
	}
	if f.get(func(f *fakePortSIP) int { return f.logins }) != 0 {
		t.Error("the probe logged in")
	}
}

func TestGatewayNoClient(t *testing.T) {
	if _, err := NewGateway(nil, nil).Collect(context.Background()); !errors.Is(err, ErrNoData) {
		t.Fatalf("err = %v", err)
	}
}

func TestGateway502(t *testing.T) {
	f := newFakePortSIP(t)
	f.set(func(f *fakePortSIP) { f.info = "502" })
	rep := collectReport(t, NewGateway(apiClient(t, f.srv.URL+"/api", "", "", nil), nil))
	if rep.State != StateCritical || !strings.Contains(rep.Summary, "down") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	if !strings.Contains(rep.Advice, "cd /opt/portsip && sh pbx_ctl.sh restart") || !strings.Contains(rep.Advice, "disk") || !strings.Contains(rep.Advice, "support") {
		t.Errorf("advice %q", rep.Advice)
	}
	if up, _ := metric(rep, "gateway_up"); up != 0 {
		t.Errorf("gateway_up = %v", up)
	}
}

func TestGateway500CrossChecksDisk(t *testing.T) {
	f := newFakePortSIP(t)
	f.set(func(f *fakePortSIP) { f.info = "500" })
	c := apiClient(t, f.srv.URL+"/api", "", "", nil)

	full := func() (State, string) { return StateCritical, "/var/lib/portsip 97% used" }
	rep := collectReport(t, NewGateway(c, full))
	if rep.State != StateCritical || !strings.Contains(rep.Summary, "the disk check says: /var/lib/portsip 97% used") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	if !strings.Contains(rep.Advice, ".gz") {
		t.Errorf("advice %q", rep.Advice)
	}

	fine := func() (State, string) { return StateOK, "/var/lib/portsip 40% used" }
	rep = collectReport(t, NewGateway(c, fine))
	if rep.State != StateCritical || !strings.Contains(rep.Summary, "500 usually means a full disk but the disk check is OK") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}

	rep = collectReport(t, NewGateway(c, nil))
	if rep.State != StateCritical || !strings.Contains(rep.Summary, "no result yet") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
}

func TestGatewayTimeout(t *testing.T) {
	f := newFakePortSIP(t)
	f.set(func(f *fakePortSIP) { f.info = "slow" })
	c := apiClient(t, f.srv.URL+"/api", "", "", nil, portsip.WithTimeout(100*time.Millisecond))
	rep := collectReport(t, NewGateway(c, nil))
	if rep.State != StateCritical || !strings.Contains(rep.Summary, "did not answer within 100ms") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
}

func TestGatewayRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rep := collectReport(t, NewGateway(apiClient(t, "https://"+addr+"/api", "", "", nil), nil))
	if rep.State != StateCritical || !strings.Contains(rep.Summary, "refused") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	if !strings.Contains(rep.Advice, "pbx_ctl.sh") {
		t.Errorf("advice %q", rep.Advice)
	}
}

func TestGatewayTLSError(t *testing.T) {
	f := newFakePortSIP(t)
	c, err := portsip.NewClient(f.srv.URL+"/api", "", "", false, "", portsip.WithTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rep := collectReport(t, NewGateway(c, nil))
	if rep.State != StateWarning || !strings.Contains(rep.Summary, "TLS") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	if !strings.Contains(rep.Advice, "api.insecure_skip_verify") || !strings.Contains(rep.Advice, "certificate") {
		t.Errorf("advice %q", rep.Advice)
	}
}

func TestGatewayCancelled(t *testing.T) {
	f := newFakePortSIP(t)
	f.set(func(f *fakePortSIP) { f.info = "slow" })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if rep, err := NewGateway(apiClient(t, f.srv.URL+"/api", "", "", nil), nil).Collect(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, report %+v", err, rep)
	}
}
