//go:build linux

package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/platform/linux"
)

// packagedUnit is the unit the packages must carry: linux.Unit with the
// packaged paths, the same code `pbxagent install` renders.
func packagedUnit() string {
	return linux.Unit(linux.UnitConfig{
		Exe:          "/usr/bin/pbxagent",
		ConfigPath:   "/etc/pbxagent/pbxagent.yaml",
		StateDir:     "/var/lib/pbxagent",
		WritableDirs: []string{"/var/lib/pbxagent/bundles", "/var/lib/portsip/pbx/log"},
	})
}

// repoRoot is the repository holding this test.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	must(t, err)
	return root
}

// packageRun runs scripts/package.sh into a new folder with the given
// extra environment and returns the folder and the script's output.
func packageRun(t *testing.T, env ...string) (string, string) {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(repoRoot(t), "scripts", "package.sh"))
	cmd.Dir = repoRoot(t)
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "DIST", "VERSION", "TARGETS", "SOURCE_DATE_EPOCH", "NFPM", "MAINTAINER",
			"SIGN_CERT", "SIGN_KEY", "SIGN_PKCS12", "SIGN_PASSWORD", "SIGN_TIMESTAMP_URL":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "DIST="+dist)
	cmd.Env = append(cmd.Env, env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/package.sh %v: %v\n%s", env, err, out)
	}
	t.Logf("scripts/package.sh %v: %s", env, time.Since(start).Round(100*time.Millisecond))
	return dist, string(out)
}

// sums reads a SHA256SUMS file: file name to hash.
func sums(t *testing.T, dist string) (map[string]string, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	must(t, err)
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		m[f[1]] = f[0]
	}
	return m, string(data)
}

// one returns the single file in dist matching the glob.
func one(t *testing.T, dist, glob string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dist, glob))
	must(t, err)
	if len(m) != 1 {
		t.Fatalf("%s in %s: %v, want exactly one", glob, dist, m)
	}
	return m[0]
}

func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func checkMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
	}
}

func gone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err == nil {
		t.Errorf("%s still exists", p)
	}
}

// TestPackages builds the packages once (twice for reproducibility) and
// checks them: contents and modes, the maintainer scripts, the unit,
// lintian, the Windows zip and its signing, and a real install, upgrade,
// removal and purge in a throwaway Debian root.
func TestPackages(t *testing.T) {
	have(t, "bash", "git", "dpkg-deb", "sha256sum", "gzip")
	epoch := strings.TrimSpace(runOut(t, "git", "-C", repoRoot(t), "log", "-1", "--format=%ct"))

	dist1, out1 := packageRun(t)
	t.Log(out1)
	sum1, text1 := sums(t, dist1)

	t.Run("reproducible", func(t *testing.T) {
		dist2, _ := packageRun(t)
		_, text2 := sums(t, dist2)
		if text1 != text2 {
			t.Errorf("two builds differ:\n%s\n%s", text1, text2)
		}
		var names []string
		for n := range sum1 {
			names = append(names, n)
		}
		sort.Strings(names)
		kinds := map[string]int{}
		for _, n := range names {
			for _, suffix := range []string{"_amd64.deb", "_arm64.deb", ".x86_64.rpm", ".aarch64.rpm", "-windows-amd64.zip"} {
				if strings.HasSuffix(n, suffix) {
					kinds[suffix]++
				}
			}
		}
		if len(names) != 5 || len(kinds) != 5 {
			t.Errorf("SHA256SUMS lists %v, want one deb and one rpm per Linux arch and the Windows zip", names)
		}
		cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
		cmd.Dir = dist1
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	})

	deb := one(t, dist1, "pbxagent_*_amd64.deb")
	ctrl := t.TempDir()
	runOut(t, "dpkg-deb", "-e", deb, ctrl)
	root := t.TempDir()
	runOut(t, "dpkg-deb", "-x", deb, root)

	t.Run("deb contents", func(t *testing.T) {
		listing := runOut(t, "dpkg-deb", "-c", deb)
		want := map[string]string{
			"./usr/bin/pbxagent":                                  "-rwxr-xr-x root/root",
			"./lib/systemd/system/pbxagent.service":               "-rw-r--r-- root/root",
			"./etc/pbxagent/":                                     "drwx------ root/root",
			"./etc/pbxagent/pbxagent.yaml":                        "-rw------- root/root",
			"./var/lib/pbxagent/":                                 "drwx------ root/root",
			"./usr/share/doc/pbxagent/copyright":                  "-rw-r--r-- root/root",
			"./usr/share/doc/pbxagent/changelog.Debian.gz":        "-rw-r--r--",
			"./usr/share/man/man1/pbxagent.1.gz":                  "-rw-r--r-- root/root",
			"./usr/share/man/man1/pbxagent-analyze.1.gz":          "-rw-r--r-- root/root",
			"./usr/share/man/man1/pbxagent-bundle.1.gz":           "-rw-r--r-- root/root",
			"./usr/share/bash-completion/completions/pbxagent":    "-rw-r--r-- root/root",
			"./usr/share/zsh/vendor-completions/_pbxagent":        "-rw-r--r-- root/root",
			"./usr/share/fish/vendor_completions.d/pbxagent.fish": "-rw-r--r-- root/root",
			"./usr/share/lintian/overrides/pbxagent":              "-rw-r--r-- root/root",
			"./usr/share/pbxagent/prometheus/pbxagent-rules.yml":  "-rw-r--r-- root/root",
		}
		found := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(listing))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 6 {
				continue
			}
			path, got := f[len(f)-1], f[0]+" "+f[1]
			if w, ok := want[path]; ok {
				found[path] = true
				if !strings.HasPrefix(got, w) {
					t.Errorf("%s: %q, want %q", path, got, w)
				}
			}
			// Every entry is dated from the last commit.
			if ts, err := time.ParseInLocation("2006-01-02 15:04", f[3]+" "+f[4], time.Local); err == nil {
				sec, _ := strconv.ParseInt(epoch, 10, 64)
				if d := ts.Unix() - time.Unix(sec, 0).Truncate(time.Minute).Unix(); d != 0 {
					t.Errorf("%s dated %s %s, not SOURCE_DATE_EPOCH %s", path, f[3], f[4], epoch)
				}
			}
		}
		for p := range want {
			if !found[p] {
				t.Errorf("%s missing from the .deb:\n%s", p, listing)
			}
		}

		info := runOut(t, "dpkg-deb", "-I", deb)
		for _, s := range []string{"conffiles", "postinst", "prerm", "postrm", "Package: pbxagent", "Architecture: amd64",
			"Homepage: https://github.com/pbxagent/pbxagent", "Maintainer: "} {
			if !strings.Contains(info, s) {
				t.Errorf("dpkg-deb -I lacks %q:\n%s", s, info)
			}
		}
		if strings.Contains(info, "Depends:") {
			t.Errorf("the static binary needs no dependencies:\n%s", info)
		}
		conffiles, err := os.ReadFile(filepath.Join(ctrl, "conffiles"))
		must(t, err)
		if strings.TrimSpace(string(conffiles)) != "/etc/pbxagent/pbxagent.yaml" {
			t.Errorf("conffiles: %q", conffiles)
		}
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			checkMode(t, filepath.Join(ctrl, s), 0o755)
		}

		// The configuration is the sample, the unit is linux.Unit's.
		sample, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "pbxagent.yaml"))
		must(t, err)
		if got, _ := os.ReadFile(filepath.Join(root, "etc/pbxagent/pbxagent.yaml")); !bytes.Equal(got, sample) {
			t.Error("/etc/pbxagent/pbxagent.yaml differs from packaging/pbxagent.yaml")
		}
		if got, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system/pbxagent.service")); string(got) != packagedUnit() {
			t.Errorf("packaged unit differs from linux.Unit:\n%s", got)
		}

		// The arm64 package holds an arm64 binary.
		arm := t.TempDir()
		runOut(t, "dpkg-deb", "-x", one(t, dist1, "pbxagent_*_arm64.deb"), arm)
		f, err := elf.Open(filepath.Join(arm, "usr/bin/pbxagent"))
		must(t, err)
		defer f.Close()
		if f.Machine != elf.EM_AARCH64 {
			t.Errorf("arm64 package holds a %v binary", f.Machine)
		}
	})

	t.Run("rpm", func(t *testing.T) {
		have(t, "rpm")
		rpm := one(t, dist1, "pbxagent-*.x86_64.rpm")
		q := runOut(t, "rpm", "-qp", "--nosignature", "--queryformat", "%{NAME} %{ARCH} %{LICENSE}\n", rpm)
		if strings.TrimSpace(q) != "pbxagent x86_64 Apache-2.0" {
			t.Errorf("rpm header: %q", q)
		}
		if c := runOut(t, "rpm", "-qcp", "--nosignature", rpm); strings.TrimSpace(c) != "/etc/pbxagent/pbxagent.yaml" {
			t.Errorf("rpm config files: %q", c)
		}
		files := runOut(t, "rpm", "-qlvp", "--nosignature", rpm)
		for path, mode := range map[string]string{
			"/usr/bin/pbxagent":                        "-rwxr-xr-x",
			"/usr/lib/systemd/system/pbxagent.service": "-rw-r--r--",
			"/etc/pbxagent/pbxagent.yaml":              "-rw-------",
			"/etc/pbxagent":                            "drwx------",
			"/var/lib/pbxagent":                        "drwx------",
		} {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(mode) + `\s.*\s` + regexp.QuoteMeta(path) + `$`)
			if !re.MatchString(files) {
				t.Errorf("rpm lacks %s %s:\n%s", mode, path, files)
			}
		}
		scripts := runOut(t, "rpm", "-qp", "--nosignature", "--scripts", rpm)
		for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"} {
			if !strings.Contains(scripts, s) {
				t.Errorf("rpm lacks its %s", s)
			}
		}
	})

	t.Run("systemd unit", func(t *testing.T) {
		have(t, "systemd-analyze", "man")
		// Verify a copy whose ExecStart is the extracted binary, with the
		// packaged man page (Documentation=man:pbxagent(1)) in MANPATH.
		unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/pbxagent.service"))
		must(t, err)
		exe := filepath.Join(root, "usr/bin/pbxagent")
		rewritten := strings.Replace(string(unit), "ExecStart=/usr/bin/pbxagent ", "ExecStart="+exe+" ", 1)
		if rewritten == string(unit) {
			t.Fatalf("no ExecStart=/usr/bin/pbxagent in the unit:\n%s", unit)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, linux.UnitName)
		write(t, path, rewritten)
		cmd := exec.Command("systemd-analyze", "verify", path)
		cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(root, "usr/share/man"))
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		sec, err := exec.Command("systemd-analyze", "security", "--offline=true", path).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`).FindSubmatch(sec)
		if m == nil {
			t.Fatalf("systemd-analyze security: %v\n%s", err, sec)
		}
		t.Logf("systemd-analyze security --offline=true: exposure %s %s", m[1], m[2])
		if v, _ := strconv.ParseFloat(string(m[1]), 64); v > 3.0 {
			t.Errorf("exposure %s is worse than 3.0: the unit lost some hardening\n%s", m[1], sec)
		}
	})

	t.Run("lintian", func(t *testing.T) {
		have(t, "lintian")
		cmd := exec.Command("lintian", "--pedantic", "--display-info", "--fail-on", "error,warning,info,pedantic", deb)
		out, err := cmd.CombinedOutput()
		var tags []string
		for _, l := range strings.Split(string(out), "\n") {
			if len(l) > 2 && l[1] == ':' && strings.Contains("EWIPX", l[:1]) {
				tags = append(tags, l)
			}
		}
		if err != nil || len(tags) > 0 {
			t.Errorf("lintian: %v\n%s", err, out)
		}
	})

	t.Run("windows zip", func(t *testing.T) {
		zr, err := zip.OpenReader(one(t, dist1, "pbxagent-*-windows-amd64.zip"))
		must(t, err)
		defer zr.Close()
		var names []string
		sec, _ := strconv.ParseInt(epoch, 10, 64)
		for _, f := range zr.File {
			names = append(names, f.Name)
			if !f.Modified.Equal(time.Unix(sec, 0)) {
				t.Errorf("%s dated %v, want SOURCE_DATE_EPOCH %s", f.Name, f.Modified, epoch)
			}
			rc, err := f.Open()
			must(t, err)
			var b bytes.Buffer
			_, err = b.ReadFrom(rc)
			rc.Close()
			must(t, err)
			switch f.Name {
			case "pbxagent.exe":
				if !bytes.HasPrefix(b.Bytes(), []byte("MZ")) {
					t.Error("pbxagent.exe is not a Windows executable")
				}
			case "pbxagent.yaml", "INSTALL.txt":
				if bytes.Count(b.Bytes(), []byte("\n")) != bytes.Count(b.Bytes(), []byte("\r\n")) {
					t.Errorf("%s has Unix line endings", f.Name)
				}
			}
			if f.Name == "INSTALL.txt" {
				for _, s := range []string{`C:\Program Files\pbxagent`, "pbxagent.exe install", "pbxagent.exe start",
					"pbxagent.exe status", "Event Log", "https://npcap.com", "WinPcap"} {
					if !bytes.Contains(b.Bytes(), []byte(s)) {
						t.Errorf("INSTALL.txt does not mention %q", s)
					}
				}
			}
		}
		if strings.Join(names, " ") != "INSTALL.txt pbxagent.exe pbxagent.yaml" {
			t.Errorf("zip holds %v, want INSTALL.txt, pbxagent.exe, pbxagent.yaml", names)
		}
	})

	t.Run("windows signing", func(t *testing.T) {
		have(t, "osslsigncode", "openssl")
		dir := t.TempDir()
		cert, key, p12 := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "sign.p12")
		runOut(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
			"-days", "2", "-subj", "/CN=pbxagent test code signing",
			"-addext", "extendedKeyUsage=codeSigning", "-addext", "keyUsage=digitalSignature")
		const password = "p12-Pa55-never-shown"
		runOut(t, "openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-out", p12, "-passout", "pass:"+password)

		for name, env := range map[string][]string{
			"pem":    {"SIGN_CERT=" + cert, "SIGN_KEY=" + key},
			"pkcs12": {"SIGN_PKCS12=" + p12, "SIGN_PASSWORD=" + password},
		} {
			t.Run(name, func(t *testing.T) {
				dist, out := packageRun(t, append(env, "TARGETS=windows/amd64")...)
				if strings.Contains(out, password) {
					t.Error("package.sh printed the signing password")
				}
				x := t.TempDir()
				zr, err := zip.OpenReader(one(t, dist, "pbxagent-*-windows-amd64.zip"))
				must(t, err)
				defer zr.Close()
				for _, f := range zr.File {
					if f.Name != "pbxagent.exe" {
						continue
					}
					rc, err := f.Open()
					must(t, err)
					var b bytes.Buffer
					_, err = b.ReadFrom(rc)
					rc.Close()
					must(t, err)
					write(t, filepath.Join(x, "pbxagent.exe"), b.String())
				}
				out = runOut(t, "osslsigncode", "verify", "-CAfile", cert, "-in", filepath.Join(x, "pbxagent.exe"))
				if !strings.Contains(out, "Signature verification: ok") {
					t.Errorf("osslsigncode verify:\n%s", out)
				}
			})
		}
	})

	t.Run("install upgrade remove purge", func(t *testing.T) {
		needRoot(t)
		have(t, "debootstrap", "chroot", "mount", "umount", "tar", "dpkg")
		dir := debianRoot(t)
		if _, err := os.Stat(filepath.Join(dir, "run/systemd/system")); err == nil {
			t.Fatal("the test root looks like a running systemd")
		}
		must(t, exec.Command("mount", "-t", "proc", "proc", filepath.Join(dir, "proc")).Run())
		t.Cleanup(func() {
			if err := exec.Command("umount", filepath.Join(dir, "proc")).Run(); err != nil {
				exec.Command("umount", "-l", filepath.Join(dir, "proc")).Run()
			}
		})
		chroot := func(args ...string) string {
			t.Helper()
			cmd := exec.Command("chroot", append([]string{dir}, args...)...)
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", "HOME=/root"}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("chroot %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		in := func(p string) string { return filepath.Join(dir, p) }
		copyFile := func(src, dst string) {
			data, err := os.ReadFile(src)
			must(t, err)
			must(t, os.WriteFile(dst, data, 0o644))
		}

		// Install.
		copyFile(deb, in("tmp/pbxagent_1.deb"))
		out := chroot("dpkg", "-i", "/tmp/pbxagent_1.deb")
		t.Logf("dpkg -i:\n%s", out)
		checkMode(t, in("usr/bin/pbxagent"), 0o755)
		checkMode(t, in("lib/systemd/system/pbxagent.service"), 0o644)
		checkMode(t, in("etc/pbxagent"), 0o700)
		checkMode(t, in("etc/pbxagent/pbxagent.yaml"), 0o600)
		checkMode(t, in("var/lib/pbxagent"), 0o700)
		checkMode(t, in("var/lib/pbxagent/pbxagent.key"), 0o600)
		pub, err := os.ReadFile(in("var/lib/pbxagent/pbxagent.pub"))
		must(t, err)
		pubLines := strings.Split(strings.TrimSpace(string(pub)), "\n")
		if len(pubLines) != 2 || !strings.Contains(out, pubLines[1]) {
			t.Errorf("dpkg -i did not print the public key %q", pub)
		}
		// An image built offline boots with the service enabled: the link
		// `systemctl enable` makes, made without a running systemd.
		wants := in("etc/systemd/system/multi-user.target.wants/pbxagent.service")
		if dst, err := os.Readlink(wants); err != nil || dst != "/lib/systemd/system/pbxagent.service" {
			t.Errorf("offline install: the unit is not enabled in the image: %q, %v", dst, err)
		}
		for _, s := range []string{"/etc/pbxagent/pbxagent.yaml", "pbxagent config validate", "pbxagent alert test",
			"pbxagent status", "systemd is not running", "flight recorder", "phone numbers", "enabled: false"} {
			if !strings.Contains(out, s) {
				t.Errorf("postinstall did not print %q", s)
			}
		}
		if v := chroot("pbxagent", "config", "validate"); !strings.Contains(v, "valid") {
			t.Errorf("packaged configuration: %s", v)
		}
		key, err := os.ReadFile(in("var/lib/pbxagent/pbxagent.key"))
		must(t, err)

		// Edit the configuration, then upgrade to a higher version.
		cfgPath := in("etc/pbxagent/pbxagent.yaml")
		cfg, err := os.ReadFile(cfgPath)
		must(t, err)
		edited := strings.Replace(string(cfg), "  # log_level: info\n", "  log_level: debug\n", 1)
		if edited == string(cfg) {
			t.Fatal("no '# log_level: info' line in the packaged configuration")
		}
		must(t, os.WriteFile(cfgPath, []byte(edited), 0o600))

		v1 := strings.TrimSpace(runOut(t, "dpkg-deb", "-f", deb, "Version"))
		v2 := strings.TrimSuffix(v1, "-1") + "+upgrade1"
		must(t, exec.Command("dpkg", "--compare-versions", v2+"-1", "gt", v1).Run())
		dist2, _ := packageRun(t, "VERSION="+v2, "TARGETS=linux/amd64")
		copyFile(one(t, dist2, "pbxagent_*_amd64.deb"), in("tmp/pbxagent_2.deb"))
		out = chroot("dpkg", "-i", "/tmp/pbxagent_2.deb")
		t.Logf("dpkg -i (upgrade):\n%s", out)
		if got := chroot("dpkg-query", "-W", "-f=${Version}", "pbxagent"); got != v2+"-1" {
			t.Errorf("installed version %q, want %q", got, v2+"-1")
		}
		if got := chroot("pbxagent", "version"); !strings.Contains(got, v2) {
			t.Errorf("pbxagent version after the upgrade: %s", got)
		}
		if got, _ := os.ReadFile(cfgPath); string(got) != edited {
			t.Error("the upgrade lost the local edit of /etc/pbxagent/pbxagent.yaml")
		}
		if got, _ := os.ReadFile(in("var/lib/pbxagent/pbxagent.key")); !bytes.Equal(got, key) {
			t.Error("the upgrade changed the signing key")
		}
		if strings.Contains(out, "Next steps") {
			t.Error("an upgrade repeated the first-install steps")
		}

		// Remove: the program goes, the configuration and state stay.
		write(t, in("var/lib/pbxagent/bundles/pbx-support-pbx1-20261127T101500Z.tar.gz"), "bundle")
		write(t, in("var/lib/pbxagent/notes.txt"), "not the agent's")
		chroot("dpkg", "-r", "pbxagent")
		gone(t, in("usr/bin/pbxagent"))
		gone(t, in("lib/systemd/system/pbxagent.service"))
		gone(t, in("usr/share/man/man1/pbxagent.1.gz"))
		if got, _ := os.ReadFile(cfgPath); string(got) != edited {
			t.Error("dpkg -r changed /etc/pbxagent/pbxagent.yaml")
		}
		if got, _ := os.ReadFile(in("var/lib/pbxagent/pbxagent.key")); !bytes.Equal(got, key) {
			t.Error("dpkg -r removed the signing key")
		}
		if st := chroot("dpkg-query", "-W", "-f=${Status}", "pbxagent"); st != "deinstall ok config-files" {
			t.Errorf("after dpkg -r: status %q", st)
		}
		// The enablement is remembered (the unit masked while its file is
		// gone), as debhelper packages do.
		if dst, err := os.Readlink(in("etc/systemd/system/pbxagent.service")); err != nil || dst != "/dev/null" {
			t.Errorf("after dpkg -r: the unit is not masked: %q, %v", dst, err)
		}

		// Purge: the configuration and the agent's own files go; a file the
		// agent did not write stays, with its folder.
		out = chroot("dpkg", "-P", "pbxagent")
		gone(t, cfgPath)
		gone(t, in("etc/pbxagent"))
		gone(t, in("var/lib/pbxagent/pbxagent.key"))
		gone(t, in("var/lib/pbxagent/pbxagent.pub"))
		gone(t, in("var/lib/pbxagent/bundles"))
		if _, err := os.Stat(in("var/lib/pbxagent/notes.txt")); err != nil {
			t.Errorf("dpkg -P removed a file pbxagent did not write: %v", err)
		}
		if !strings.Contains(out, "kept /var/lib/pbxagent") {
			t.Errorf("dpkg -P did not say why it kept /var/lib/pbxagent:\n%s", out)
		}
		if err := exec.Command("chroot", dir, "dpkg-query", "-W", "pbxagent").Run(); err == nil {
			t.Error("dpkg still knows pbxagent after a purge")
		}
		gone(t, wants)
		gone(t, in("etc/systemd/system/pbxagent.service"))

		// The same cycle where systemd runs, with a systemctl that records
		// what the scripts ask of it.
		must(t, os.MkdirAll(in("run/systemd/system"), 0o755))
		write(t, in("usr/bin/systemctl"), `#!/bin/sh
echo "$*" >>/tmp/systemctl.log
wants=/etc/systemd/system/multi-user.target.wants/pbxagent.service
case "$*" in
*" preset pbxagent.service") mkdir -p "${wants%/*}" && ln -sf /lib/systemd/system/pbxagent.service "$wants" ;;
"is-enabled --quiet pbxagent.service") [ -L "$wants" ] ;;
esac
`)
		must(t, os.Chmod(in("usr/bin/systemctl"), 0o755))
		calls := func(step string, want ...string) {
			t.Helper()
			data, _ := os.ReadFile(in("tmp/systemctl.log"))
			os.Remove(in("tmp/systemctl.log"))
			// deb-systemd-helper reloads systemd after each change it
			// makes; how often in a row is its own business.
			var got []string
			for _, c := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if c == "daemon-reload" && len(got) > 0 && got[len(got)-1] == c {
					continue
				}
				got = append(got, c)
			}
			if strings.Join(got, "; ") != strings.Join(want, "; ") {
				t.Errorf("%s: systemctl %q, want %q", step, got, want)
			}
		}
		const unit = "pbxagent.service"
		chroot("dpkg", "-i", "/tmp/pbxagent_1.deb")
		// Enabling is deb-systemd-helper's: it asks systemctl for the
		// preset in enable-only mode on a first install and reloads systemd
		// after masking and unmasking; the scripts start, restart and stop.
		calls("install", "--root=/ --system --preset-mode=enable-only preset "+unit, "daemon-reload",
			"is-enabled --quiet "+unit, "start "+unit)
		chroot("dpkg", "-i", "/tmp/pbxagent_2.deb")
		calls("upgrade", "daemon-reload", "is-enabled --quiet "+unit, "restart "+unit)
		chroot("dpkg", "-r", "pbxagent")
		calls("remove", "is-enabled --quiet "+unit, "stop "+unit, "daemon-reload", "reset-failed "+unit)
		chroot("dpkg", "-i", "/tmp/pbxagent_2.deb")
		calls("install after remove", "daemon-reload", "is-enabled --quiet "+unit, "restart "+unit)
		chroot("dpkg", "-P", "pbxagent")
		calls("purge", "is-enabled --quiet "+unit, "stop "+unit, "daemon-reload", "reset-failed "+unit,
			"daemon-reload", "reset-failed "+unit)
		gone(t, in("var/lib/pbxagent/.enabled-before-remove"))
		gone(t, in("var/lib/pbxagent/pbxagent.key"))
	})
}

// debianRoot returns a fresh Debian 12 (minbase) root folder.
func debianRoot(t *testing.T) string { return debianRootVariant(t, "minbase", "") }

// debianRootVariant returns a fresh Debian 12 root folder made by
// `debootstrap --variant=minbase`, with the packages in include (comma
// separated) added. Each variant is cached as a tar file under
// /var/cache/pbxagent-test (PBXAGENT_TEST_CACHE), one per day, so later
// runs only unpack it. The mirror is PBXAGENT_DEBIAN_MIRROR, else the one
// apt uses on this machine.
func debianRootVariant(t *testing.T, name, include string) string {
	t.Helper()
	cache := os.Getenv("PBXAGENT_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/pbxagent-test"
	}
	mirror := os.Getenv("PBXAGENT_DEBIAN_MIRROR")
	if mirror == "" {
		mirror = aptMirror()
	}
	must(t, os.MkdirAll(cache, 0o755))
	prefix := "bookworm-" + name + "-"
	tarball := filepath.Join(cache, prefix+time.Now().UTC().Format("20060102")+".tar")
	if _, err := os.Stat(tarball); err != nil {
		start := time.Now()
		tmp, err := os.MkdirTemp(cache, "debootstrap-")
		must(t, err)
		rootfs := filepath.Join(tmp, "root")
		defer func() {
			for _, m := range []string{"proc", "sys", "dev/pts"} {
				exec.Command("umount", "-l", filepath.Join(rootfs, m)).Run()
			}
			os.RemoveAll(tmp)
		}()
		args := []string{"--variant=minbase"}
		if include != "" {
			args = append(args, "--include="+include)
		}
		out, err := exec.Command("debootstrap", append(args, "bookworm", rootfs, mirror)...).CombinedOutput()
		if err != nil {
			t.Fatalf("debootstrap from %s: %v\n%s", mirror, err, out)
		}
		runOut(t, "tar", "-C", rootfs, "-cf", tarball+".partial", ".")
		must(t, os.Rename(tarball+".partial", tarball))
		old, _ := filepath.Glob(filepath.Join(cache, prefix+"*.tar"))
		for _, o := range old {
			if o != tarball {
				os.Remove(o)
			}
		}
		t.Logf("debootstrap bookworm %s (cached as %s): %s", name, tarball, time.Since(start).Round(time.Second))
	}
	dir := t.TempDir()
	runOut(t, "tar", "-C", dir, "-xf", tarball)
	return dir
}

// aptMirror is the Debian mirror this machine's apt uses (the first URIs
// of a deb822 source, or of a sources.list line, naming .../debian), else
// deb.debian.org.
func aptMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, "/etc/apt/sources.list")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(line)
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:":
			case len(fields) >= 3 && fields[0] == "deb" && !strings.HasPrefix(fields[1], "["):
			default:
				continue
			}
			if u := fields[1]; strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
				return u
			}
		}
	}
	return "http://deb.debian.org/debian"
}
