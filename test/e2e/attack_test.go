//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The attack suite plays the PBX service user (or whoever owns it): it can
// write the PBX folders, and tries to make the root agent copy a root-only
// file into a bundle, hang, or leave debris. Every case runs the real
// binary under a timeout.

// attackTimeout bounds one bundle run: a run past it has hung.
const attackTimeout = 60 * time.Second

// attackTally counts the cases tried and those that got through, for the
// closing log line.
var attackTally struct {
	tried, through atomic.Int64
}

// plantMarker writes a root-only file with a random marker outside the PBX
// folders and returns its path and content.
func plantMarker(t *testing.T, f *pbxFixture) (string, string) {
	t.Helper()
	mark := fmt.Sprintf("ROOT-ONLY-MARKER-%016x", rand.Uint64())
	p := filepath.Join(f.root, "shadow")
	must(t, os.WriteFile(p, []byte(mark+"\n"), 0o600))
	return p, mark
}

// bundleRun runs pbxagent bundle --json under attackTimeout and returns the
// extracted bundle folder and its manifest; it fails the test on a hang.
func bundleRun(t *testing.T, f *pbxFixture, args ...string) (string, manifest, result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), attackTimeout)
	defer cancel()
	start := time.Now()
	r := runAgentCtx(t, ctx, append([]string{"bundle", "--config", f.config, "--json", "--no-capture"}, args...)...)
	if ctx.Err() != nil {
		t.Fatalf("bundle hung (killed after %v)", time.Since(start))
	}
	if r.code != 0 {
		t.Fatalf("bundle exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	b := parseBundleJSON(t, r)
	dir := extract(t, b.Path)
	return dir, readManifest(t, dir), r
}

// noMarker fails if the marker is anywhere in the extracted bundle or the
// run's output.
func noMarker(t *testing.T, dir, mark string, r result) {
	t.Helper()
	attackTally.tried.Add(1)
	leaked := strings.Contains(r.stdout+r.stderr, mark)
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(mark)) {
			t.Errorf("the root-only marker is in the bundle: %s", p)
			leaked = true
		}
		return nil
	}))
	if leaked {
		attackTally.through.Add(1)
		t.Error("the marker got through")
	}
}

// refused fails unless the manifest lists path as missing with the reason.
func refused(t *testing.T, m manifest, path, reason string) {
	t.Helper()
	want := "refused (" + reason + ")"
	for _, e := range m.Missing {
		if e.Path == path && strings.Contains(e.Reason, want) {
			return
		}
	}
	for _, e := range m.Files {
		if e.Path == path && strings.Contains(e.Error, want) {
			return
		}
	}
	t.Errorf("%s not listed as %q in the manifest; missing: %+v", path, want, m.Missing)
}

// TestAttackPlanted: hostile files already in place when the bundle starts.
func TestAttackPlanted(t *testing.T) {
	needRoot(t)
	type plant func(t *testing.T, f *pbxFixture, marker string)
	symlink := func(rel string) plant {
		return func(t *testing.T, f *pbxFixture, marker string) {
			p := filepath.Join(f.data, rel)
			os.Remove(p)
			must(t, os.Symlink(marker, p))
		}
	}
	fifo := func(rel string) plant {
		return func(t *testing.T, f *pbxFixture, _ string) {
			p := filepath.Join(f.data, rel)
			os.Remove(p)
			must(t, unix.Mkfifo(p, 0o644))
		}
	}
	device := func(rel string) plant {
		return func(t *testing.T, f *pbxFixture, _ string) {
			p := filepath.Join(f.data, rel)
			os.Remove(p)
			must(t, unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5)))) // as /dev/zero
		}
	}
	directory := func(rel string) plant {
		return func(t *testing.T, f *pbxFixture, _ string) {
			p := filepath.Join(f.data, rel)
			os.Remove(p)
			must(t, os.Mkdir(p, 0o755))
		}
	}
	symlinkedSubdir := func(t *testing.T, f *pbxFixture, marker string) {
		must(t, os.Symlink(filepath.Dir(marker), filepath.Join(f.logs, "up")))
	}
	cases := []struct {
		name, path, reason string
		plant              plant
		window             bool
	}{
		{"symlink callmanager.log", "logs/callmanager.log", "symlink", symlink("log/callmanager.log"), true},
		{"symlink archive", "logs/evil.log.gz", "symlink", symlink("log/evil.log.gz"), false},
		{"symlink system.ini", "config/system.ini", "symlink", symlink("system.ini"), false},
		{"symlink VERSION", "system/VERSION", "symlink", symlink("VERSION"), false},
		{"symlinked subfolder", "logs/up", "symlink", symlinkedSubdir, false},
		{"fifo callmanager.log", "logs/callmanager.log", "fifo", fifo("log/callmanager.log"), true},
		{"fifo VERSION", "system/VERSION", "fifo", fifo("VERSION"), false},
		{"fifo system.ini", "config/system.ini", "fifo", fifo("system.ini"), false},
		{"device nats.log", "logs/nats.log", "device", device("log/nats.log"), false},
		{"device callmanager.log", "logs/callmanager.log", "device", device("log/callmanager.log"), true},
		{"directory system.ini", "config/system.ini", "directory", directory("system.ini"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			marker, mark := plantMarker(t, f)
			c.plant(t, f, marker)
			var args []string
			if c.window {
				args = []string{"--duration", "1s"}
			}
			dir, m, r := bundleRun(t, f, args...)
			noMarker(t, dir, mark, r)
			refused(t, m, c.path, c.reason)
			if c.window && c.path == "logs/callmanager.log" {
				refused(t, m, windowLogName(), c.reason)
			}
		})
	}
}

func windowLogName() string { return "logs/callmanager.window.log" }

// TestAttackRotation: during the live window the log is renamed away and a
// symlink to the marker, a FIFO or a device takes its place; following ends
// with the refusal named in the manifest, and the run does not hang.
func TestAttackRotation(t *testing.T) {
	needRoot(t)
	for _, kind := range []string{"symlink", "fifo", "device"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			marker, mark := plantMarker(t, f)
			cm := filepath.Join(f.logs, "callmanager.log")
			go func() {
				time.Sleep(700 * time.Millisecond)
				os.Rename(cm, cm+".1")
				switch kind {
				case "symlink":
					os.Symlink(marker, cm)
				case "fifo":
					unix.Mkfifo(cm, 0o644)
				case "device":
					unix.Mknod(cm, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5)))
				}
			}()
			dir, m, r := bundleRun(t, f, "--duration", "2s")
			noMarker(t, dir, mark, r)
			refused(t, m, windowLogName(), kind)
		})
	}
}

// TestAttackSwapRace: files are swapped for symlinks to the marker and back
// in a tight loop while bundles are made, to hit the moment between a check
// and an open.
func TestAttackSwapRace(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	marker, mark := plantMarker(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var swaps atomic.Int64
	for _, rel := range []string{"log/nats.log", "log/callmanager.log", "system.ini", "VERSION"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := filepath.Join(f.data, rel)
			tl, tf := p+".swap-l", p+".swap-f"
			content, _ := os.ReadFile(p)
			for ctx.Err() == nil {
				os.Symlink(marker, tl)
				os.Rename(tl, p)
				os.WriteFile(tf, content, 0o644)
				os.Rename(tf, p)
				swaps.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(8 * time.Second)
	runs := 0
	for time.Now().Before(deadline) || runs < 3 {
		dir, _, r := bundleRun(t, f)
		noMarker(t, dir, mark, r)
		runs++
		os.RemoveAll(f.out)
	}
	cancel()
	wg.Wait()
	t.Logf("swap race: %d bundles during %d swaps, marker never collected", runs, swaps.Load())
}

// TestAttackHardLinkAndSparse: the kernel keeps the PBX user from hard
// linking a root-only file; a hard link the agent meets is collected and
// recorded; a huge sparse log is read only up to the caps.
func TestAttackHardLinkAndSparse(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	marker, mark := plantMarker(t, f)
	must(t, os.Chown(f.logs, 65534, 65534))
	ln := exec.Command("ln", marker, filepath.Join(f.logs, "stolen.log"))
	ln.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := ln.CombinedOutput(); err == nil {
		t.Fatalf("the PBX user could hard link a root-only file (fs.protected_hardlinks is off): %s", out)
	}
	// A hard link to a file the user owns is fine, and recorded.
	own := filepath.Join(f.logs, "own.log")
	must(t, os.WriteFile(own, []byte("own\n"), 0o644))
	must(t, os.Link(own, filepath.Join(f.logs, "own-link.log")))
	// A 64 GiB sparse log.
	sp, err := os.Create(filepath.Join(f.logs, "sparse.log"))
	must(t, err)
	must(t, sp.Truncate(64<<30))
	sp.Close()
	start := time.Now()
	dir, m, r := bundleRun(t, f, "--max-file-size", "2MiB", "--max-size", "64MiB")
	noMarker(t, dir, mark, r)
	var warned bool
	var b struct {
		Warnings []string `json:"warnings"`
	}
	must(t, json.Unmarshal([]byte(r.stdout), &b))
	for _, w := range b.Warnings {
		warned = warned || strings.Contains(w, "own.log has 2 hard links") || strings.Contains(w, "own-link.log has 2 hard links")
	}
	if !warned {
		t.Errorf("hard link not recorded: %q", b.Warnings)
	}
	if !slices.ContainsFunc(b.Warnings, func(w string) bool { return strings.Contains(w, "owned by uid 65534, neither root nor the PBX user") }) {
		t.Errorf("a log folder owned by another user is not noted: %q", b.Warnings)
	}
	for _, fe := range m.Files {
		if fe.Path == "logs/sparse.log" && (fe.Size > 2<<20 || fe.TruncatedBytes == 0) {
			t.Errorf("sparse log: %d bytes kept, %d truncated", fe.Size, fe.TruncatedBytes)
		}
	}
	t.Logf("bundle with a 64 GiB sparse log took %v", time.Since(start).Round(time.Millisecond))
}

// TestAttackPruneSymlinkedParent: the PBX user, owning the folder above
// the data folder, turns the data folder into a symlink to another folder
// holding archives; prune refuses and deletes nothing there.
func TestAttackPruneSymlinkedParent(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	victim := filepath.Join(f.root, "victim")
	must(t, os.MkdirAll(filepath.Join(victim, "log"), 0o700))
	precious := filepath.Join(victim, "log", "precious.log.gz")
	must(t, os.WriteFile(precious, []byte("keep"), 0o600))
	past := time.Now().Add(-400 * 24 * time.Hour)
	must(t, os.Chtimes(precious, past, past))
	must(t, os.Chown(filepath.Dir(f.data), 65534, 65534))
	must(t, os.Rename(f.data, f.data+".moved"))
	must(t, os.Symlink(victim, f.data))
	attackTally.tried.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), attackTimeout)
	defer cancel()
	r := runAgentCtx(t, ctx, "logs", "prune", "--config", f.config)
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "symlink") {
		t.Errorf("prune through a symlinked log folder: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(precious); err != nil {
		attackTally.through.Add(1)
		t.Fatalf("prune deleted a file through the symlink: %v", err)
	}
}

// TestAttackSigningKey: a key that cannot be used is exit 1 with the fix,
// never a silently unsigned bundle; /dev/zero does not hang.
func TestAttackSigningKey(t *testing.T) {
	f := newFixture(t)
	for name, setup := range map[string]func(key string){
		"empty":   func(k string) { os.WriteFile(k, nil, 0o600) },
		"corrupt": func(k string) { os.WriteFile(k, []byte("untrusted comment: x\nnot base64!!\n"), 0o600) },
		"folder":  func(k string) { os.Mkdir(k, 0o700) },
		"zero":    func(k string) { os.Symlink("/dev/zero", k) },
	} {
		t.Run(name, func(t *testing.T) {
			key := filepath.Join(t.TempDir(), "pbxagent.key")
			setup(key)
			cfg := filepath.Join(t.TempDir(), "cfg.yaml")
			data, err := os.ReadFile(f.config)
			must(t, err)
			must(t, os.WriteFile(cfg, append(data, []byte("signing:\n  secret_key: "+key+"\n")...), 0o600))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r := runAgentCtx(t, ctx, "bundle", "--config", cfg, "--no-capture")
			if ctx.Err() != nil {
				t.Fatal("bundle hung on the signing key")
			}
			if r.code != 1 || !strings.Contains(r.stderr, "keygen --force") || !strings.Contains(r.stderr, "--no-sign") {
				t.Errorf("exit %d\n%s", r.code, r.stderr)
			}
			r = runAgentCtx(t, ctx, "bundle", "--config", cfg, "--no-capture", "--no-sign", "--json")
			if r.code != 0 || !strings.Contains(r.stdout, "NOT signed") {
				t.Errorf("--no-sign: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestStopSignals: SIGTERM or SIGHUP at a random moment of 20 bundle runs,
// in every state (live window with and without a packet capture on
// loopback, collecting a large log): each ends within 5 s and leaves a
// verified bundle or nothing, never a .partial. Run it under
// flock /tmp/pbxagent-net.lock (it captures).
func TestStopSignals(t *testing.T) {
	needRoot(t)
	have(t, "minisign")
	f := newFixture(t)
	// A large incompressible log keeps a run busy writing one entry.
	writeRandom(t, filepath.Join(f.logs, "big.log"), 128<<20)
	var worst time.Duration
	for i := 0; i < 20; i++ {
		sig := syscall.SIGTERM
		if i%2 == 1 {
			sig = syscall.SIGHUP
		}
		os.RemoveAll(f.out)
		args := []string{"bundle", "--config", f.config, "--json", "--max-file-size", "200MiB", "--max-size", "1GiB"}
		switch i % 4 {
		case 0, 3:
			args = append(args, "--duration", "2s", "--no-capture")
		case 1:
			args = append(args, "--duration", "2s", "--iface", "lo")
		case 2:
			args = append(args, "--no-capture") // the signal lands while logs are written
		}
		cmd := exec.Command(bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		must(t, cmd.Start())
		delay := time.Duration(rand.Int64N(int64(1800 * time.Millisecond)))
		time.Sleep(delay)
		sent := time.Now()
		must(t, cmd.Process.Signal(sig))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("run %d: %v after %v: still running 10 s later", i, sig, delay)
		}
		took := time.Since(sent)
		worst = max(worst, took)
		if took > 5*time.Second {
			t.Errorf("run %d: %v after %v: ended %v after the signal", i, sig, delay, took)
		}
		ents, _ := os.ReadDir(f.out)
		var archives []string
		for _, e := range ents {
			switch {
			case strings.HasSuffix(e.Name(), ".partial") || strings.HasSuffix(e.Name(), ".spool"):
				t.Errorf("run %d: left %s", i, e.Name())
			case strings.HasPrefix(e.Name(), "pbx-support-") && !strings.HasSuffix(e.Name(), ".minisig"):
				archives = append(archives, filepath.Join(f.out, e.Name()))
			}
		}
		switch len(archives) {
		case 0: // nothing: fine
		case 1:
			if v := runAgent(t, "verify", "--config", f.config, archives[0]); v.code != 0 {
				t.Errorf("run %d: %v after %v left a bundle that does not verify: %s", i, sig, delay, v.stdout)
			}
		default:
			t.Errorf("run %d: %d archives", i, len(archives))
		}
		t.Logf("run %d (%s): %v after %v: ended in %v, %d bundle(s)", i, strings.Join(args[8:], " "), sig, delay.Round(time.Millisecond), took.Round(time.Millisecond), len(archives))
	}
	t.Logf("worst stop time after SIGTERM/SIGHUP: %v", worst.Round(time.Millisecond))
}

// TestKillLeavesNoDebris: 20 SIGKILLs at random moments, then one run:
// no .partial is left, and the run says what it removed.
func TestKillLeavesNoDebris(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	killed := 0
	for i := 0; i < 20; i++ {
		cmd := exec.Command(bin, "bundle", "--config", f.config, "--duration", "1s", "--no-capture", "--json")
		must(t, cmd.Start())
		time.Sleep(time.Duration(rand.Int64N(int64(1200 * time.Millisecond))))
		cmd.Process.Kill()
		cmd.Wait()
		killed++
	}
	partials, _ := filepath.Glob(filepath.Join(f.out, ".pbx-support-*.partial"))
	t.Logf("%d runs killed, %d partial files left before the next run", killed, len(partials))
	r := runAgent(t, "bundle", "--config", f.config, "--no-capture", "--json")
	if r.code != 0 {
		t.Fatalf("bundle after kills: exit %d %s", r.code, r.stderr)
	}
	left, _ := filepath.Glob(filepath.Join(f.out, ".pbx-support-*"))
	if len(left) > 0 {
		t.Errorf("debris after a new run: %v", left)
	}
	if len(partials) > 0 && !strings.Contains(r.stdout, "unfinished bundle file") {
		t.Errorf("the run did not say it removed %d partial files: %s", len(partials), r.stdout)
	}
}

// TestAttackPruneNames: an archive name carrying terminal escape sequences
// is printed escaped by logs prune, never raw.
func TestAttackPruneNames(t *testing.T) {
	f := newFixture(t)
	evil := filepath.Join(f.logs, "x\x1b[2J\x1b]0;owned\x07.log.gz")
	must(t, os.WriteFile(evil, []byte("old"), 0o644))
	past := time.Now().Add(-400 * 24 * time.Hour)
	must(t, os.Chtimes(evil, past, past))
	attackTally.tried.Add(1)
	r := runAgent(t, "logs", "prune", "--dry-run", "--config", f.config)
	if r.code != 0 {
		t.Fatalf("prune --dry-run: exit %d %s", r.code, r.stderr)
	}
	if strings.ContainsAny(r.stdout+r.stderr, "\x1b\x07") {
		attackTally.through.Add(1)
		t.Errorf("a control character reached the terminal:\n%q", r.stdout)
	}
	if !strings.Contains(r.stdout, `\x1b[2J`) || !strings.Contains(r.stdout, "PBX log folder "+f.logs) {
		t.Errorf("the name or the folder worked in is not shown:\n%s", r.stdout)
	}
}

// TestAttackTally logs the suite's totals; it runs last in this file.
func TestAttackTally(t *testing.T) {
	t.Logf("attack cases tried: %d, got through: %d", attackTally.tried.Load(), attackTally.through.Load())
	if attackTally.through.Load() != 0 {
		t.Errorf("%d attack cases got through", attackTally.through.Load())
	}
}
