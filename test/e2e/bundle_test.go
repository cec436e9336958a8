//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

// TestBundleStockTools: the archive opens with stock tools, every hash
// matches, minisign accepts the signature, and a first bundle creates the
// host key.
func TestBundleStockTools(t *testing.T) {
	have(t, "tar", "unzip", "minisign", "zstd")
	f := newFixture(t)
	for _, format := range []string{"tar.gz", "zip", "tar.zst"} {
		t.Run(format, func(t *testing.T) {
			r := runAgent(t, "bundle", "--config", f.config, "--format", format, "--json")
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			b := parseBundleJSON(t, r)
			if !strings.HasSuffix(b.Path, "."+format) || !strings.Contains(filepath.Base(b.Path), "pbx-support-") {
				t.Fatalf("unexpected archive name %s", b.Path)
			}
			for _, p := range []string{b.Path, b.SignaturePath} {
				fi, err := os.Stat(p)
				must(t, err)
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
				}
			}
			dir := extract(t, b.Path)
			m := readManifest(t, dir)
			checkHashes(t, dir, m)
			for _, want := range []string{"logs/callmanager.log", "logs/nats.log", "logs/callmanager.2026-11-26.log.gz",
				"system/summary.txt", "system/host.json", "system/mounts.json", "system/pbx.json",
				"config/system.ini", "config/.configure_pbx", "config/pbxagent.yaml"} {
				if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
					t.Errorf("%s missing from the bundle", want)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "logs/callmanager.2026-01-01.log.gz")); err == nil {
				t.Errorf("an archived log older than --since was included")
			}
			pub := filepath.Join(f.state, "pbxagent.pub")
			out, err := exec.Command("minisign", "-Vm", b.Path, "-p", pub).CombinedOutput()
			if err != nil {
				t.Fatalf("minisign rejected the signature: %v\n%s", err, out)
			}
			v := runAgent(t, "verify", "--config", f.config, b.Path)
			if v.code != 0 {
				t.Fatalf("pbxagent verify failed: %s %s", v.stdout, v.stderr)
			}
		})
	}
	// Only the first bundle creates the key.
	sec, err := os.Stat(filepath.Join(f.state, "pbxagent.key"))
	must(t, err)
	if sec.Mode().Perm() != 0o600 {
		t.Errorf("secret key mode %v, want 0600", sec.Mode().Perm())
	}
}

// TestBundleTamper: flipping any single byte of the archive makes both
// pbxagent verify and minisign fail.
func TestBundleTamper(t *testing.T) {
	have(t, "minisign")
	f := newFixture(t)
	r := runAgent(t, "bundle", "--config", f.config, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	b := parseBundleJSON(t, r)
	orig, err := os.ReadFile(b.Path)
	must(t, err)
	pub := filepath.Join(f.state, "pbxagent.pub")
	n := len(orig)
	positions := []int{0, 1, 10, 100, n / 4, n / 3, n / 2, 2 * n / 3, n - 100, n - 9, n - 2, n - 1}
	for _, pos := range positions {
		if pos < 0 || pos >= n {
			continue
		}
		bad := bytes.Clone(orig)
		bad[pos] ^= 0x01
		must(t, os.WriteFile(b.Path, bad, 0o600))
		v := runAgent(t, "verify", "--config", f.config, b.Path)
		if v.code != 1 || !strings.Contains(v.stdout, "signature: FAILED") {
			t.Errorf("byte %d flipped: pbxagent verify exit %d\n%s%s", pos, v.code, v.stdout, v.stderr)
		}
		if out, err := exec.Command("minisign", "-Vm", b.Path, "-p", pub).CombinedOutput(); err == nil {
			t.Errorf("byte %d flipped: minisign accepted the archive: %s", pos, out)
		}
	}
	must(t, os.WriteFile(b.Path, orig, 0o600))
	if v := runAgent(t, "verify", "--config", f.config, b.Path); v.code != 0 {
		t.Fatalf("restored archive fails verification: %s", v.stdout)
	}
	// A wrong key is named as such.
	other := runAgent(t, "keygen", "--config", writeKeyConfig(t))
	if other.code != 0 {
		t.Fatalf("keygen: %s", other.stderr)
	}
	key := strings.TrimSpace(other.stdout[strings.LastIndex(strings.TrimSpace(other.stdout), "\n")+1:])
	v := runAgent(t, "verify", "--config", f.config, "--pubkey", key, b.Path)
	if v.code != 1 || !strings.Contains(v.stdout, "key") {
		t.Errorf("verify with another key: exit %d\n%s", v.code, v.stdout)
	}
}

func writeKeyConfig(t *testing.T) string {
	dir := t.TempDir()
	p := filepath.Join(dir, "k.yaml")
	write(t, p, fmt.Sprintf("agent:\n  state_dir: %s\n", dir))
	return p
}

// TestBundleRedaction: no planted secret appears anywhere in the extracted
// bundle, the manifest counts the redactions, and the command line in the
// manifest is clean.
func TestBundleRedaction(t *testing.T) {
	f := newFixture(t)
	r := runAgent(t, "bundle", "--config", f.config, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, s := range secrets {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("secret %q printed by the command", s)
		}
	}
	b := parseBundleJSON(t, r)
	dir := extract(t, b.Path)
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("secret %q found in %s", s, p)
			}
		}
		return nil
	}))
	m := readManifest(t, dir)
	want := map[string]int{"config/system.ini": 2, "config/.configure_pbx": 2, "config/pbxagent.yaml": 2, "config/docker-compose-portsip-pbx.yml": 1}
	for _, fe := range m.Files {
		if n, ok := want[fe.Path]; ok {
			if fe.Redactions == nil || *fe.Redactions != n {
				t.Errorf("%s: redactions %v, want %d", fe.Path, fe.Redactions, n)
			}
			delete(want, fe.Path)
		}
	}
	for p := range want {
		t.Errorf("%s not in the manifest", p)
	}
	// Usernames survive: the file stays useful.
	ini, err := os.ReadFile(filepath.Join(dir, "config/system.ini"))
	must(t, err)
	if !bytes.Contains(ini, []byte("superuser = postgres")) {
		t.Errorf("redaction removed non-secret values:\n%s", ini)
	}
}

// TestBundleFollowRotation: while bundle --duration follows callmanager.log,
// a writer appends numbered lines and the log is rotated by rename and by
// copy-and-truncate; history plus window hold every line exactly once.
func TestBundleFollowRotation(t *testing.T) {
	for _, mode := range []string{"rename", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			logPath := filepath.Join(f.logs, "callmanager.log")
			// Start from a log of numbered lines so the sequence is continuous.
			var sb strings.Builder
			for i := 0; i < 500; i++ {
				fmt.Fprintf(&sb, "seq %08d\n", i)
			}
			write(t, logPath, sb.String())

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			var last int
			var werr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				last, werr = writeAndRotate(ctx, logPath, 500, mode)
			}()
			r := runAgent(t, "bundle", "--config", f.config, "--duration", "3s", "--no-capture", "--json")
			cancel()
			wg.Wait()
			must(t, werr)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			b := parseBundleJSON(t, r)
			dir := extract(t, b.Path)
			hist := readLines(t, filepath.Join(dir, "logs/callmanager.log"))
			win := readLines(t, filepath.Join(dir, "logs/callmanager.window.log"))
			all := append(hist, win...)
			if len(win) < 50 {
				t.Fatalf("window holds only %d lines", len(win))
			}
			for i, l := range all {
				if l != fmt.Sprintf("seq %08d", i) {
					t.Fatalf("line %d of history+window is %q, want seq %08d (history %d lines, window %d lines, writer reached %d)",
						i, l, i, len(hist), len(win), last)
				}
			}
			if len(all) > last+1 {
				t.Fatalf("more lines than written: %d > %d", len(all), last+1)
			}
			m := readManifest(t, dir)
			if !strings.Contains(string(m.Sections["follow"]), `"renames": 2`) && mode == "rename" {
				t.Errorf("follow section does not count 2 renames: %s", m.Sections["follow"])
			}
		})
	}
}

// writeAndRotate appends numbered lines every 2 ms and rotates the log twice,
// 1 s and 2 s in. It returns the last number written.
func writeAndRotate(ctx context.Context, path string, next int, mode string) (int, error) {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer func() { fh.Close() }()
	start := time.Now()
	rotations := 0
	for {
		select {
		case <-ctx.Done():
			return next - 1, nil
		default:
		}
		if _, err := fmt.Fprintf(fh, "seq %08d\n", next); err != nil {
			return next, err
		}
		next++
		if rotations < 2 && time.Since(start) > time.Duration(rotations+1)*time.Second {
			rotations++
			rot := fmt.Sprintf("%s.%d", path, rotations)
			switch mode {
			case "rename":
				// logrotate "create": rename, new file, writer reopens.
				if err := os.Rename(path, rot); err != nil {
					return next, err
				}
				fh.Close()
				if fh, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
					return next, err
				}
			case "truncate":
				// logrotate "copytruncate", with the writer quiet for a
				// moment as PortSIP is between log lines.
				time.Sleep(300 * time.Millisecond)
				data, err := os.ReadFile(path)
				if err != nil {
					return next, err
				}
				if err := os.WriteFile(rot, data, 0o644); err != nil {
					return next, err
				}
				if err := fh.Truncate(0); err != nil {
					return next, err
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	fh, err := os.Open(p)
	must(t, err)
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	must(t, sc.Err())
	return out
}

// TestBundleDiskReserve: a small tmpfs as --output makes the bundle refuse
// cleanly: exit 1, a message naming the space needed, no file left.
func TestBundleDiskReserve(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	mnt := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", mnt).CombinedOutput()
	testutil.Need(t, err == nil, fmt.Sprintf("cannot mount tmpfs: %v %s", err, out))
	defer exec.Command("umount", mnt).Run()
	// The default reserve (5%, at least 256 MiB) cannot be met on 16 MiB.
	cfg := filepath.Join(f.root, "default-reserve.yaml")
	data, err := os.ReadFile(f.config)
	must(t, err)
	cfgText := strings.NewReplacer("  reserve_min: 1MiB\n", "", "  reserve_percent: 0\n", "").Replace(string(data))
	write(t, cfg, cfgText)
	r := runAgent(t, "bundle", "--config", cfg, "--output", mnt)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "--output") || !strings.Contains(r.stderr, "free") {
		t.Errorf("error does not explain the space problem: %s", r.stderr)
	}
	assertEmpty(t, mnt)

	// With a 4 MiB reserve the check passes up front but a large log
	// crosses it while writing: the partial file is removed.
	writeRandom(t, filepath.Join(f.logs, "big.log"), 64<<20)
	cfg2 := filepath.Join(f.root, "small-reserve.yaml")
	write(t, cfg2, strings.Replace(string(data), "reserve_min: 1MiB", "reserve_min: 4MiB", 1))
	r = runAgent(t, "bundle", "--config", cfg2, "--output", mnt)
	if r.code != 1 || !strings.Contains(r.stderr, "stopped writing the bundle before it filled the disk") {
		t.Fatalf("exit %d, want 1 with a reserve message\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertEmpty(t, mnt)
}

// writeRandom writes n incompressible bytes.
func writeRandom(t *testing.T, p string, n int) {
	t.Helper()
	fh, err := os.Create(p)
	must(t, err)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	buf := make([]byte, 1<<20)
	for n > 0 {
		rng.Read(buf)
		k := min(n, len(buf))
		_, err := fh.Write(buf[:k])
		must(t, err)
		n -= k
	}
	must(t, fh.Close())
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range ents {
		t.Errorf("file left behind in %s: %s", dir, e.Name())
	}
}

// TestBundleInterrupt: one SIGINT during --duration gives a valid, signed,
// partial bundle; two SIGINTs leave nothing.
func TestBundleInterrupt(t *testing.T) {
	have(t, "minisign")
	f := newFixture(t)

	cmd := exec.Command(bin, "bundle", "--config", f.config, "--duration", "60s", "--no-capture", "--json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	must(t, cmd.Start())
	time.Sleep(1500 * time.Millisecond)
	must(t, cmd.Process.Signal(syscall.SIGINT))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("one SIGINT: %v\n%s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("bundle did not finish after SIGINT")
	}
	b := parseBundleJSON(t, result{stdout: out.String(), stderr: errb.String()})
	if !b.Partial {
		t.Errorf("interrupted bundle not marked partial")
	}
	dir := extract(t, b.Path)
	m := readManifest(t, dir)
	if !m.Partial || m.PartialReason == "" {
		t.Errorf("manifest: partial=%v reason=%q", m.Partial, m.PartialReason)
	}
	checkHashes(t, dir, m)
	if o, err := exec.Command("minisign", "-Vm", b.Path, "-p", filepath.Join(f.state, "pbxagent.pub")).CombinedOutput(); err != nil {
		t.Fatalf("partial bundle signature rejected: %s", o)
	}

	// Two SIGINTs while a large log is still being written: abort,
	// nothing left.
	writeRandom(t, filepath.Join(f.logs, "big.log"), 192<<20)
	out2 := filepath.Join(f.root, "out2")
	cmd = exec.Command(bin, "bundle", "--config", f.config, "--output", out2, "--duration", "60s", "--no-capture")
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		io.Copy(io.Discard, stderr)
	}()
	await := func(text string) {
		for l := range lines {
			if strings.Contains(l, text) {
				return
			}
		}
		t.Fatalf("bundle ended before printing %q", text)
	}
	await("collecting PBX logs")
	// Logs are redacted through a spool file (unlinked at once) before
	// they enter the archive: signal once big.log's is growing, so the
	// first interruption, which skips the logs not started yet, lets the
	// file in progress finish and the second (once the first was taken:
	// two signals sent at once may arrive as one) aborts.
	waitSpool(t, cmd.Process.Pid, 8<<20)
	must(t, cmd.Process.Signal(syscall.SIGINT))
	await("interrupted")
	must(t, cmd.Process.Signal(syscall.SIGINT))
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("aborted bundle exited 0")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("bundle did not stop after two SIGINTs")
	}
	assertEmpty(t, out2)
}

// TestExitCodes: usage and configuration errors exit 2 with a message
// naming file, line and key; failures exit 1.
func TestExitCodes(t *testing.T) {
	f := newFixture(t)
	bad := filepath.Join(f.root, "bad.yaml")
	write(t, bad, "pbx:\n  data_dir: /var/lib/portsip/pbx\n  sip_ports: [5060, 99999]\nbundle:\n  max_sise: 1GiB\n  format: rar\nagent: [1, 2]\n")
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"version"}, 0, []string{"pbxagent"}},
		{[]string{"nosuchcommand"}, 2, []string{"unknown command"}},
		{[]string{"bundle", "--no-such-flag"}, 2, []string{"unknown flag"}},
		{[]string{"bundle", "--duration", "abc"}, 2, []string{"duration"}},
		{[]string{"bundle", "--config", bad}, 2, []string{"bad.yaml:3", "bad.yaml:5", "max_sise", "bad.yaml:6", "format"}},
		{[]string{"config", "validate", bad}, 2, []string{"bad.yaml:3", "sip_ports", "did you mean", "bad.yaml:7"}},
		{[]string{"config", "validate", f.config}, 0, []string{"valid"}},
		{[]string{"bundle", "--config", filepath.Join(f.root, "missing.yaml")}, 2, []string{"missing.yaml"}},
		{[]string{"verify", "--config", f.config, filepath.Join(f.root, "nope.tar.gz")}, 2, []string{"nope.tar.gz"}},
		{[]string{"verify"}, 2, []string{"ARCHIVE"}},
	}
	for _, c := range cases {
		r := runAgent(t, c.args...)
		if r.code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, r.code, c.code, r.stdout, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout+r.stderr, w) {
				t.Errorf("%v: output lacks %q:\n%s%s", c.args, w, r.stdout, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
			t.Errorf("%v: stack trace printed:\n%s", c.args, r.stderr)
		}
	}
}

// TestConfigPrintMasksSecrets: config print shows the effective
// configuration without any secret.
func TestConfigPrintMasksSecrets(t *testing.T) {
	f := newFixture(t)
	r := runAgent(t, "config", "print", "--config", f.config)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, s := range secrets {
		if strings.Contains(r.stdout, s) {
			t.Errorf("config print shows secret %q", s)
		}
	}
	if !strings.Contains(r.stdout, f.data) || !strings.Contains(r.stdout, "max_size") {
		t.Errorf("config print lacks the effective settings:\n%s", r.stdout)
	}
}

// TestCompletion: shell completion scripts are generated.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		r := runAgent(t, "completion", sh)
		if r.code != 0 || len(r.stdout) < 100 {
			t.Errorf("completion %s: exit %d, %d bytes", sh, r.code, len(r.stdout))
		}
	}
}

// waitSpool waits until process pid holds an unlinked bundle spool file of
// at least min bytes (seen through /proc/PID/fd).
func waitSpool(t *testing.T, pid int, min int64) {
	t.Helper()
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		fds, _ := os.ReadDir(fdDir)
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.Contains(target, ".pbx-support-") || !strings.Contains(target, ".spool") {
				continue
			}
			if fi, err := os.Stat(filepath.Join(fdDir, fd.Name())); err == nil && fi.Size() >= min {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no spool file of %d bytes appeared in %s", min, fdDir)
}
