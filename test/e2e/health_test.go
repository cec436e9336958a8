//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/guide"
	"github.com/pbxagent/pbxagent/internal/portsiptest"
)

// addCDRs appends n CDRs ending now on trunk with code.
func addCDRs(f *portsiptest.Server, trunk string, code, n int) {
	now := time.Now().UTC()
	f.Set(func(st *portsiptest.State) {
		for i := range n {
			id := len(st.CDRs) + 1
			st.CDRs = append(st.CDRs, portsiptest.CDR{ID: fmt.Sprint(id), Caller: "101", Callee: fmt.Sprintf("+4930555%05d", id),
				StartedAt: now.Add(-time.Minute), EndedAt: now.Add(time.Duration(i) * time.Millisecond), CallID: fmt.Sprintf("c%d@pbx", id),
				Direction: "OUTBOUND_CALL", StatusCode: code, Trunk: trunk})
		}
	})
}

// TestRunMailsPBXHealth drives `pbxagent run` against the fake PortSIP API:
// licence near its limits with maintenance expiring in 5 days and a media
// server down are mailed at once; a trunk going OFFLINE together with a 403
// burst on it is the next mail, naming the trunk, the code and the guide's
// causes; a second trunk going OFFLINE while the first still is gets a mail
// of its own; the first coming back is a recovery mail while the second
// stays down; normal calls on another trunk never are. Then the service
// stops, calls fail, `pbxagent status` shows them without moving the CDR
// cursor, and the restarted service mails that burst (and nothing it
// already mailed). Exactly those mails, one per change.
func TestRunMailsPBXHealth(t *testing.T) {
	ms := newMailServer(t)
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.AdminStatus = map[string]any{"version": "22.3.1", "max_concurrent_calls": 100, "current_calls": 96,
			"licensed_users": 50, "current_users": 20,
			"maintenance_expires_at": time.Now().Add(5*24*time.Hour + time.Hour).UTC().Format(time.RFC3339)}
		st.Trunks = []portsiptest.Trunk{{ID: "t1", Name: "carrier-a", Status: "ONLINE"}, {ID: "t2", Name: "carrier-b", Status: "ONLINE"}}
		st.Media = []portsiptest.MediaServer{{ID: "m1", Name: "media-1", Status: "OFFLINE", MaxConcurrency: 100}}
		st.Transports = []portsiptest.Transport{{ID: "UDP", Protocol: "UDP", Port: 5060, Status: "ACTIVATED"}}
	})
	addCDRs(f, "carrier-b", 200, 30)

	data := filepath.Join(t.TempDir(), "pbx")
	must(t, os.MkdirAll(data, 0o755))
	state := t.TempDir()
	cfg := watchConfig(t, data, state, ms, fmt.Sprintf(`api:
  url: %s
  username: %s
  password: %s
  insecure_skip_verify: true
`, f.URL, portsiptest.User, portsiptest.Password))

	cmd := exec.Command(bin, "run", "--config", cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	defer cmd.Process.Kill()

	first := ms.waitMail(t, 30*time.Second, "licence")
	body := first.Subject + "\n" + first.Text
	for _, want := range []string{"calls 96/100 (96%)", "maintenance expires", "(in 5 days)", `media server "media-1" is OFFLINE`} {
		if !strings.Contains(body, want) {
			t.Errorf("first mail lacks %q:\n%s", want, body)
		}
	}

	// carrier-a goes offline and its calls fail with 403.
	f.Set(func(st *portsiptest.State) { st.Trunks[0].Status = "OFFLINE" })
	addCDRs(f, "carrier-a", 403, 12)
	addCDRs(f, "carrier-b", 200, 20)
	second := ms.waitMail(t, 40*time.Second, "Trunk carrier-a")
	body = second.Subject + "\n" + second.Text
	for _, want := range []string{"CRITICAL Trunk carrier-a: ONLINE → OFFLINE", `trunk "carrier-a" is OFFLINE`, `12 calls failed with 403`, `on trunk "carrier-a"`, "***0031",
		"The licence check (CRITICAL): calls 96/100 (96%)",
		"PortSIP troubleshooting guide"} {
		if !strings.Contains(body, want) {
			t.Errorf("trunk/burst mail lacks %q:\n%s", want, body)
		}
	}
	// The guide's causes and next check for 403, from the same table the
	// analysis uses.
	g := guide.ForStatus(403)
	for _, want := range []string{g.Title, g.Causes[0].Text, g.Causes[len(g.Causes)-1].Text, g.NextCheck} {
		if !strings.Contains(strings.Join(strings.Fields(body), " "), want) {
			t.Errorf("burst mail lacks the guide's %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "+4930555") {
		t.Errorf("a number is not masked:\n%s", body)
	}

	// carrier-b goes offline too: a mail of its own, about carrier-b only.
	f.Set(func(st *portsiptest.State) { st.Trunks[1].Status = "OFFLINE" })
	third := ms.waitMail(t, 40*time.Second, "Trunk carrier-b")
	if want := "CRITICAL Trunk carrier-b: ONLINE → OFFLINE"; !strings.Contains(third.Subject, want) || strings.Contains(third.Text, "carrier-a") {
		t.Errorf("second trunk's mail: want only %q:\n%s\n%s", want, third.Subject, third.Text)
	}
	// carrier-a comes back while carrier-b stays down: one recovery mail.
	f.Set(func(st *portsiptest.State) { st.Trunks[0].Status = "ONLINE" })
	rec := ms.waitMail(t, 40*time.Second, "Trunk carrier-a: OFFLINE → ONLINE", "recovered")
	if strings.Contains(rec.Text, "carrier-b") {
		t.Errorf("the recovery mail names the trunk still down:\n%s", rec.Text)
	}
	// One more round: nothing changes, nothing is mailed.
	time.Sleep(12 * time.Second)
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	_ = cmd.Wait()
	if n := len(ms.messages(t)); n != 4 {
		t.Errorf("%d mails before the restart, want 4", n)
	}
	if n := f.Count().Logins; n != 1 {
		t.Errorf("%d logins; the checks share one token; the service's log:\n%s", n, logs.String())
	}

	// While the service is stopped, calls fail on carrier-c; `status` shows
	// the burst but does not move the CDR cursor the service reads from.
	cursor := filepath.Join(state, "cdr-cursor.json")
	saved, err := os.ReadFile(cursor)
	must(t, err)
	addCDRs(f, "carrier-c", 503, 12)
	out, _ := exec.Command(bin, "status", "--config", cfg).CombinedOutput()
	if !strings.Contains(string(out), "12 calls failed with 503") {
		t.Errorf("status does not show the burst:\n%s", out)
	}
	if now, err := os.ReadFile(cursor); err != nil || !bytes.Equal(now, saved) {
		t.Errorf("status moved the CDR cursor (%v)", err)
	}
	cmd = exec.Command(bin, "run", "--config", cfg)
	logs.Reset()
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	defer cmd.Process.Kill()
	ms.waitMail(t, 40*time.Second, `on trunk "carrier-c"`)
	time.Sleep(12 * time.Second)
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	_ = cmd.Wait()

	all := ms.messages(t)
	var subjects []string
	for _, m := range all {
		subjects = append(subjects, m.Subject)
		if strings.Contains(m.Text, `on trunk "carrier-b"`) {
			t.Errorf("a mail about the normal calls: %q", m.Subject)
		}
	}
	if len(all) != 5 {
		t.Errorf("%d mails, want exactly 5 (licence+media, carrier-a+burst, carrier-b, carrier-a recovered, the burst seen after the restart): %q\n%s",
			len(all), subjects, logs.String())
	}
	burst := 0
	for _, m := range all {
		if strings.Contains(m.Text, `12 calls failed with 503`) && strings.Contains(m.Text, `on trunk "carrier-c"`) {
			burst++
		}
	}
	if burst != 1 {
		t.Errorf("%d mails about the burst status saw, want the restarted service's one", burst)
	}
	if n := f.Count().Logins; n > 3 {
		t.Errorf("%d logins for two service starts and one status; the checks share one token", n)
	}
	for _, s := range f.Secrets() {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a secret of the API reached the service log")
		}
	}
}
