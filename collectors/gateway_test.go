package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/pbxagent/pbxagent/internal/portsiptest"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/portsip"
)

const (
	apiUser    = portsiptest.User
	apiPass    = portsiptest.Password
	apiBadPass = "Gw-Wr0ng-pa55-CORGE"
)

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
	f := portsiptest.New(t)
	g := NewGateway(apiClient(t, f.URL, "", "", nil), nil)
	rep := collectReport(t, g)
	if rep.State != StateOK || !strings.Contains(rep.Summary, "22.3.1") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	if up, _ := metric(rep, "gateway_up"); up != 1 {
		t.Errorf("gateway_up = %v", up)
	}
	if rt, ok := metric(rep, "gateway_response_seconds"); !ok || rt <= 0 {
		t.Errorf("gateway_response_seconds = %v, %v", rt, ok)
	}
	if d, ok := rep.Data.(GatewayData); !ok || d.State != portsip.GatewayUp {
		t.Errorf("data %#v", rep.Data)
	}
	if f.Count().Logins != 0 {
		t.Error("the probe logged in")
	}
}

func TestGatewayNoClient(t *testing.T) {
	if _, err := NewGateway(nil, nil).Collect(context.Background()); !errors.Is(err, ErrNoData) {
		t.Fatalf("err = %v", err)
	}
}

func TestGateway502(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.InfoMode = "502" })
	rep := collectReport(t, NewGateway(apiClient(t, f.URL, "", "", nil), nil))
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
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.InfoMode = "500" })
	c := apiClient(t, f.URL, "", "", nil)

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
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.InfoMode = "slow" })
	c := apiClient(t, f.URL, "", "", nil, portsip.WithTimeout(100*time.Millisecond))
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
	f := portsiptest.New(t)
	c, err := portsip.NewClient(f.URL, "", "", false, "", portsip.WithTimeout(3*time.Second))
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
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.InfoMode = "slow" })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if rep, err := NewGateway(apiClient(t, f.URL, "", "", nil), nil).Collect(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, report %+v", err, rep)
	}
}
