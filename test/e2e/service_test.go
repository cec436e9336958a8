//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

// serviceConfig is the agent's configuration in the booted root: one check
// that is bound to warn (any used disk is above 1%), alerts at once, a
// short round.
const serviceConfig = `checks:
  interval: 10s
  disk:
    warning_percent: 1
    critical_percent: 99.9
    clear_margin: 0.5
    min_free: 1MiB
  gateway:
    enabled: false
  blocked_ips:
    enabled: false
  services:
    enabled: false
alerts:
  consecutive: 1
  digest: 0s
`

// booted is a Debian root running systemd under systemd-nspawn.
type booted struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	init int // the container's PID 1, as the host sees it
	log  *os.File
}

// bootDebian boots dir with `systemd-nspawn -b --register=no --keep-unit`
// and waits until systemd inside answers. Where the kernel or the host
// refuses to run the container, the test is skipped with nspawn's own
// words (and fails under CI).
func bootDebian(t *testing.T, dir string) *booted {
	t.Helper()
	logf, err := os.CreateTemp("", "pbxagent-nspawn-*.log")
	must(t, err)
	t.Cleanup(func() { logf.Close(); os.Remove(logf.Name()) })
	cmd := exec.Command("systemd-nspawn", "-q", "-b", "--register=no", "--keep-unit",
		"-D", dir, "--private-network", "--machine=pbxagent-e2e-"+strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_TMPFS_TMP=0")
	must(t, cmd.Start())
	b := &booted{t: t, dir: dir, cmd: cmd, log: logf}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // nspawn powers the container off
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logf.Name())
			reason := fmt.Sprintf("systemd-nspawn -b could not boot the Debian root (%v): %s", err, strings.TrimSpace(string(out)))
			testutil.Need(t, false, reason)
		default:
		}
		if b.init == 0 {
			b.init = childOf(cmd.Process.Pid)
		}
		if b.init != 0 {
			if out, err := b.try("systemctl", "is-system-running"); err == nil || strings.Contains(out, "degraded") || strings.Contains(out, "running") {
				return b
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("the container did not finish booting in 90 s:\n%s", out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// childOf returns the first child of pid (nspawn's child is the
// container's init), or 0.
func childOf(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// try runs a command inside the container (its namespaces, PATH of a
// root shell) and returns its combined output.
func (b *booted) try(args ...string) (string, error) {
	nsargs := append([]string{"-t", strconv.Itoa(b.init), "-m", "-u", "-i", "-n", "-p", "-C", "--",
		"/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive",
		"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", nsargs...).CombinedOutput()
	return string(out), err
}

// run is try that fails the test on an error.
func (b *booted) run(args ...string) string {
	b.t.Helper()
	out, err := b.try(args...)
	if err != nil {
		b.t.Fatalf("in the container: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// show returns one property of the unit.
func (b *booted) show(prop string) string {
	b.t.Helper()
	return strings.TrimSpace(b.run("systemctl", "show", "-p", prop, "--value", "pbxagent.service"))
}

// pollUntil polls cond every 250 ms for at most limit and reports whether it
// became true; the limit is a safety net, not a measurement.
func pollUntil(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// waitActive waits for the unit to be active with a main PID other than
// old, and returns the new main PID.
func (b *booted) waitActive(old string) string {
	b.t.Helper()
	var pid string
	if !pollUntil(60*time.Second, func() bool {
		pid = b.show("MainPID")
		return b.show("ActiveState") == "active" && pid != "0" && pid != old
	}) {
		st, _ := b.try("systemctl", "status", "--no-pager", "-l", "pbxagent")
		b.t.Fatalf("pbxagent did not become active again (main PID was %s):\n%s", old, st)
	}
	return pid
}

func (b *booted) journal(args ...string) string {
	b.t.Helper()
	return b.run(append([]string{"journalctl", "--no-pager", "-o", "cat", "-u", "pbxagent"}, args...)...)
}

func (b *booted) writeFile(p, content string) {
	b.t.Helper()
	write(b.t, filepath.Join(b.dir, p), content)
	must(b.t, os.Chmod(filepath.Join(b.dir, p), 0o600))
}

// TestServiceBooted installs the .deb in a Debian 12 root booted with
// systemd and checks what an administrator relies on: enabled and active,
// real journal priorities, restarts after a crash and a hang (watchdog), a
// configuration error that stops the unit with the error in `systemctl
// status` instead of a restart loop, reload that applies a valid file and
// refuses an invalid one, and what apt remove and purge leave.
func TestServiceBooted(t *testing.T) {
	needRoot(t)
	have(t, "systemd-nspawn", "nsenter", "debootstrap", "tar", "bash", "git", "dpkg-deb")
	dist, _ := packageRun(t, "TARGETS=linux/amd64")
	deb := one(t, dist, "pbxagent_*_amd64.deb")
	dir := debianRootVariant(t, "systemd", "systemd,systemd-sysv,dbus")
	// A PBX folder, so the disk check watches it.
	must(t, os.MkdirAll(filepath.Join(dir, "var/lib/portsip/pbx/log"), 0o755))
	data, err := os.ReadFile(deb)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "root/pbxagent.deb"), data, 0o644))

	b := bootDebian(t, dir)
	start := time.Now()
	t.Logf("container booted (init PID %d)", b.init)

	// Install with apt on the running system: enabled and started.
	out := b.run("apt-get", "install", "-y", "--no-install-recommends", "/root/pbxagent.deb")
	t.Logf("apt-get install:\n%s", out)
	if got := strings.TrimSpace(b.run("systemctl", "is-enabled", "pbxagent")); got != "enabled" {
		t.Errorf("is-enabled: %q", got)
	}
	pid := b.waitActive("0")
	if b.show("Type") != "notify" {
		t.Errorf("Type=%s, want notify", b.show("Type"))
	}

	// The planted warning: a disk level of 1%, mailed at once (logged, as
	// no mail server is set) at priority warning.
	b.writeFile("etc/pbxagent/pbxagent.yaml", serviceConfig)
	b.run("systemctl", "restart", "pbxagent")
	pid = b.waitActive(pid)
	if !pollUntil(60*time.Second, func() bool { return strings.Contains(b.journal("-p", "warning"), "WARNING disk") }) {
		t.Errorf("journalctl -p warning -u pbxagent does not show the disk warning:\n%s", b.journal("-p", "warning"))
	}
	if info := b.journal("-p", "info..info"); !strings.Contains(info, "pbxagent running") || strings.Contains(info, "WARNING disk") {
		t.Errorf("info-only journal lines are wrong:\n%s", info)
	}
	if js := b.run("journalctl", "--no-pager", "-o", "verbose", "-u", "pbxagent", "-p", "warning"); !strings.Contains(js, "PRIORITY=4") || !strings.Contains(js, "CHECK=disk") || !strings.Contains(js, "STATE=WARNING") {
		t.Errorf("no structured fields in the warning entries:\n%s", js)
	}

	// kill -9: systemd restarts it (RestartSec=3, then READY after the
	// first round).
	restarts := b.show("NRestarts")
	b.run("sh", "-c", "kill -9 "+pid)
	killed := time.Now()
	pid = b.waitActive(pid)
	t.Logf("kill -9: active again after %s", time.Since(killed).Round(100*time.Millisecond))
	if b.show("NRestarts") == restarts {
		t.Error("NRestarts did not grow after kill -9")
	}
	if got := b.show("RestartUSec"); got != "3s" {
		t.Errorf("RestartUSec=%s, want 3s", got)
	}

	// A hung agent: SIGSTOP stops the watch loop and its heartbeats; the
	// watchdog (shortened to 5 s here) kills and restarts it.
	b.writeFile("etc/systemd/system/pbxagent.service.d/watchdog.conf", "[Service]\nWatchdogSec=5s\n")
	must(t, os.Chmod(filepath.Join(dir, "etc/systemd/system/pbxagent.service.d/watchdog.conf"), 0o644))
	b.run("systemctl", "daemon-reload")
	b.run("systemctl", "restart", "pbxagent")
	pid = b.waitActive(pid)
	time.Sleep(6 * time.Second) // longer than WatchdogSec: the heartbeats keep it alive
	if got := b.show("MainPID"); got != pid {
		t.Fatalf("the agent was restarted although it was not hung (main PID %s, then %s)", pid, got)
	}
	b.run("sh", "-c", "kill -STOP "+pid)
	b.waitActive(pid)
	if j := b.run("journalctl", "--no-pager", "-o", "cat", "-u", "pbxagent"); !strings.Contains(j, "Watchdog timeout") ||
		!strings.Contains(j, "aborted by the service manager") {
		t.Errorf("no watchdog timeout and abort report in the journal:\n%s", lastLines(j, 30))
	}
	os.Remove(filepath.Join(dir, "etc/systemd/system/pbxagent.service.d/watchdog.conf"))
	b.run("systemctl", "daemon-reload")

	// A configuration error: the start fails, the unit is failed with the
	// error in systemctl status, and it is not restarted.
	b.writeFile("etc/pbxagent/pbxagent.yaml", "checks:\n  interval: banana\n")
	if out, err := b.try("systemctl", "restart", "pbxagent"); err == nil {
		t.Errorf("systemctl restart with a bad configuration returned 0:\n%s", out)
	}
	restarts = b.show("NRestarts")
	time.Sleep(7 * time.Second) // longer than RestartSec
	if st := b.show("ActiveState"); st != "failed" {
		t.Errorf("bad configuration: ActiveState=%s, want failed", st)
	}
	if got := b.show("NRestarts"); got != restarts {
		t.Errorf("bad configuration: restarted (NRestarts %s -> %s)", restarts, got)
	}
	status, _ := b.try("systemctl", "status", "--no-pager", "-l", "-n", "20", "pbxagent")
	for _, want := range []string{"failed", "status=2", "checks.interval"} {
		if !strings.Contains(status, want) {
			t.Errorf("systemctl status lacks %q:\n%s", want, status)
		}
	}

	// Reload: a valid change is applied in place, an invalid one refused.
	b.writeFile("etc/pbxagent/pbxagent.yaml", serviceConfig)
	b.run("systemctl", "reset-failed", "pbxagent")
	b.run("systemctl", "start", "pbxagent")
	pid = b.waitActive("0")
	b.writeFile("etc/pbxagent/pbxagent.yaml", strings.Replace(serviceConfig, "interval: 10s", "interval: 17s", 1))
	b.run("systemctl", "reload", "pbxagent")
	if !pollUntil(30*time.Second, func() bool { return strings.Contains(b.journal(), "interval=17s") }) {
		t.Errorf("the valid reload was not applied:\n%s", lastLines(b.journal(), 20))
	}
	if got := b.show("MainPID"); got != pid {
		t.Errorf("reload restarted the process (main PID %s -> %s)", pid, got)
	}
	b.writeFile("etc/pbxagent/pbxagent.yaml", "checks:\n  interval: banana\n")
	b.run("systemctl", "reload", "pbxagent")
	if !pollUntil(30*time.Second, func() bool { return strings.Contains(b.journal("-p", "err"), "configuration reload refused") }) {
		t.Errorf("the invalid reload was not refused at priority err:\n%s", lastLines(b.journal(), 20))
	}
	if !pollUntil(10*time.Second, func() bool { return strings.Contains(b.show("StatusText"), "reload refused") }) {
		t.Errorf("systemctl status does not say the reload was refused: %q", b.show("StatusText"))
	}
	if st, got := b.show("ActiveState"), b.show("MainPID"); st != "active" || got != pid {
		t.Errorf("after an invalid reload: %s, main PID %s (was %s)", st, got, pid)
	}
	if round, err := os.ReadFile(filepath.Join(dir, "var/lib/pbxagent/last-round.json")); err != nil || !strings.Contains(string(round), "reload_error") {
		t.Errorf("last-round.json does not record the refused reload (%v):\n%s", err, round)
	}
	b.writeFile("etc/pbxagent/pbxagent.yaml", serviceConfig)

	// apt remove keeps the configuration and the key; purge removes them.
	b.run("apt-get", "remove", "-y", "pbxagent")
	gone(t, filepath.Join(dir, "usr/bin/pbxagent"))
	if st, _ := b.try("systemctl", "is-active", "pbxagent"); strings.TrimSpace(st) == "active" {
		t.Error("the service still runs after apt remove")
	}
	for _, p := range []string{"etc/pbxagent/pbxagent.yaml", "var/lib/pbxagent/pbxagent.key", "var/lib/pbxagent/pbxagent.pub"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("apt remove removed /%s: %v", p, err)
		}
	}
	if out := b.run("apt-get", "purge", "-y", "pbxagent"); strings.Contains(out, "kept /var/lib/pbxagent") {
		left, _ := b.try("find", "/var/lib/pbxagent")
		t.Errorf("apt purge kept /var/lib/pbxagent:\n%s\nholding:\n%s", out, left)
	}
	for _, p := range []string{"etc/pbxagent", "var/lib/pbxagent", "etc/systemd/system/multi-user.target.wants/pbxagent.service"} {
		gone(t, filepath.Join(dir, p))
	}
	t.Logf("service checks took %s after boot", time.Since(start).Round(time.Second))
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
