package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pbxagent/pbxagent/bundle"
)

// TestLogSink: a log goes in redacted with its count; one that cannot be
// redacted (a corrupt .gz) or whose run was interrupted is left out with
// the reason, never added as it is; an aborted run stops it.
func TestLogSink(t *testing.T) {
	a, _ := testAgent(t)
	a.cfg.API.Password = "Api-Pass-Sink-1"
	a = New(a.cfg, "", "test", nil) // the redactor takes the config's secrets
	w := zipWriter(t)
	s := a.newLogSink(context.Background(), w, t.TempDir(), nil)
	text := "a password=x1\nb Api-Pass-Sink-1\nc\n"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Add(bundle.Entry{Path: "logs/a.log", Collector: "logs", Size: int64(len(text)), Reader: strings.NewReader(text)}))
	bad := "password=leak-me not gzip"
	must(s.Add(bundle.Entry{Path: "logs/b.log.gz", Collector: "logs", Source: "/x/b.log.gz", Size: int64(len(bad)), Reader: strings.NewReader(bad)}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s2 := a.newLogSink(ctx, w, t.TempDir(), nil)
	if err := s2.Add(bundle.Entry{Path: "logs/c.log", Collector: "logs", Size: int64(len(text)), Reader: strings.NewReader(text)}); !errors.Is(err, context.Canceled) {
		t.Errorf("aborted run: err = %v, want context.Canceled", err)
	}

	m, files := closeAndRead(t, w)
	if got := string(files["logs/a.log"]); got != "a password=REDACTED\nb REDACTED\nc\n" {
		t.Errorf("a.log = %q", got)
	}
	if len(m.Files) != 1 || m.Files[0].Redactions == nil || *m.Files[0].Redactions != 2 {
		t.Fatalf("files = %+v", m.Files)
	}
	reasons := map[string]string{}
	for _, e := range m.Missing {
		reasons[e.Path] = e.Reason
	}
	if r := reasons["logs/b.log.gz"]; !strings.Contains(r, "could not be redacted") {
		t.Errorf("corrupt .gz: reason %q", r)
	}
	for p, data := range files {
		if strings.Contains(string(data), "leak-me") {
			t.Errorf("%s holds the unredacted text", p)
		}
	}
}

// TestSnapshotArgs: process command lines in the system snapshot lose the
// configuration's secrets and secret flags' values.
func TestSnapshotArgs(t *testing.T) {
	a, _ := testAgent(t)
	a.cfg.SMTP.Password = "Smtp-Arg-Pass-2"
	a = New(a.cfg, "", "test", nil)
	got := strings.Join(a.sanitizeArgs([]string{"app", "--db-password", "pw1", "--relay=smtp://u:Smtp-Arg-Pass-2@h", "-u", "admin:pw2"}), " ")
	if want := "app --db-password REDACTED --relay=smtp://u:REDACTED@h -u admin:REDACTED"; got != want {
		t.Errorf("sanitizeArgs = %q, want %q", got, want)
	}
}
