//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

// bin is the pbxagent binary built once for all tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pbxagent-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "pbxagent")
	build := exec.Command("go", "build", "-o", bin, "github.com/pbxagent/pbxagent/cmd/pbxagent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pbxagent:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

func runAgent(t *testing.T, args ...string) result {
	t.Helper()
	return runAgentCtx(t, context.Background(), args...)
}

func runAgentCtx(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run pbxagent %v: %v", args, err)
	}
	return r
}

// Secrets planted in the fixture; none may appear anywhere in a bundle.
var secrets = []string{
	"Db-Sup3r-Secret!",       // system.ini superuser_password
	"pgPassw0rd_configure",   // .configure_pbx DB_PASSWORD
	"smtp-s3cret-pass",       // agent config smtp.password
	"api-s3cret-pass",        // agent config api.password
	"urlcred-s3cret",         // credentials inside a URL
	"tok_7f3a9c2e5b1d",       // a token
	"compose-pg-secret-9931", // docker compose env
}

// pbxFixture is a fake PortSIP installation with a config file for the agent.
type pbxFixture struct {
	root, data, logs, install, state, out, config string
}

func newFixture(t *testing.T) *pbxFixture {
	t.Helper()
	root := t.TempDir()
	f := &pbxFixture{
		root:    root,
		data:    filepath.Join(root, "portsip", "pbx"),
		install: filepath.Join(root, "opt", "portsip"),
		state:   filepath.Join(root, "state"),
		out:     filepath.Join(root, "out"),
	}
	f.logs = filepath.Join(f.data, "log")
	must(t, os.MkdirAll(f.logs, 0o755))
	must(t, os.MkdirAll(filepath.Join(f.install, "pbx"), 0o755))
	write(t, filepath.Join(f.data, "VERSION"), "22.3.1.1234\nbuild 2026-10-01\n")
	write(t, filepath.Join(f.data, "system.ini"), `[database]
host = 127.0.0.1
port = 5432
superuser = postgres
superuser_password = Db-Sup3r-Secret!

[apigateway]
access_limit = 5000
jwt_token = tok_7f3a9c2e5b1d
`)
	write(t, filepath.Join(f.install, "pbx", ".configure_pbx"), `IP_ADDRESS=192.0.2.10
DATA_PATH=/var/lib/portsip
DB_PASSWORD=pgPassw0rd_configure
export NATS_URL="nats://portsip:urlcred-s3cret@127.0.0.1:4222"
`)
	write(t, filepath.Join(f.install, "pbx", "docker-compose-portsip-pbx.yml"), `services:
  database:
    image: portsip/pbx:22
    environment:
      - POSTGRES_PASSWORD=compose-pg-secret-9931
`)
	var lines strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&lines, "2026-11-27 10:00:%02d.000 [INFO] callmanager: history line %06d SIP/2.0 200 OK\n", i%60, i)
	}
	write(t, filepath.Join(f.logs, "callmanager.log"), lines.String())
	write(t, filepath.Join(f.logs, "nats.log"), "nats line 1\nnats line 2\n")
	writeGzip(t, filepath.Join(f.logs, "callmanager.2026-11-26.log.gz"), "recent archive\n")
	old := filepath.Join(f.logs, "callmanager.2026-01-01.log.gz")
	write(t, old, "old archive\n")
	past := time.Now().Add(-30 * 24 * time.Hour)
	must(t, os.Chtimes(old, past, past))

	f.config = filepath.Join(root, "pbxagent.yaml")
	write(t, f.config, fmt.Sprintf(`pbx:
  data_dir: %s
  install_dir: %s
  docker_socket: ""
agent:
  state_dir: %s
bundle:
  output_dir: %s
  reserve_min: 1MiB
  reserve_percent: 0
api:
  url: https://127.0.0.1:8887/api
  username: admin
  password: api-s3cret-pass
smtp:
  host: mail.example.com
  username: alerts@example.com
  password: smtp-s3cret-pass
  from: alerts@example.com
  to: [admin@example.com]
`, f.data, f.install, f.state, f.out))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(s), 0o644))
}

// bundleJSON is the --json output of pbxagent bundle.
type bundleJSON struct {
	Path          string   `json:"path"`
	SignaturePath string   `json:"signature_path"`
	Size          int64    `json:"size"`
	SHA256        string   `json:"sha256"`
	Partial       bool     `json:"partial"`
	Warnings      []string `json:"warnings"`
	PublicKey     string   `json:"public_key"`
	KeyCreated    bool     `json:"key_created"`
}

func parseBundleJSON(t *testing.T, r result) bundleJSON {
	t.Helper()
	var b bundleJSON
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatalf("bundle --json output is not JSON: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return b
}

// manifest is the subset of manifest.json the tests read.
type manifest struct {
	Host          string   `json:"host"`
	Partial       bool     `json:"partial"`
	PartialReason string   `json:"partial_reason"`
	CommandLine   []string `json:"command_line"`
	Files         []struct {
		Path           string `json:"path"`
		Size           int64  `json:"size"`
		SHA256         string `json:"sha256"`
		Collector      string `json:"collector"`
		TruncatedBytes int64  `json:"truncated_bytes"`
		Redactions     *int   `json:"redactions"`
		Error          string `json:"error"`
	} `json:"files"`
	Missing []struct {
		Path, Collector, Reason string
	} `json:"missing"`
	Sections map[string]json.RawMessage `json:"sections"`
}

// extract unpacks an archive with the stock tool for its format and returns
// the folder.
func extract(t *testing.T, archive string) string {
	t.Helper()
	dir := t.TempDir()
	var cmd *exec.Cmd
	switch {
	case strings.HasSuffix(archive, ".zip"):
		cmd = exec.Command("unzip", "-q", archive, "-d", dir)
	case strings.HasSuffix(archive, ".tar.zst"):
		cmd = exec.Command("tar", "--zstd", "-xf", archive, "-C", dir)
	default:
		cmd = exec.Command("tar", "-xzf", archive, "-C", dir)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return dir
}

func readManifest(t *testing.T, dir string) manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	must(t, err)
	var m manifest
	must(t, json.Unmarshal(data, &m))
	return m
}

// checkHashes compares every extracted file with the manifest, both ways.
func checkHashes(t *testing.T, dir string, m manifest) {
	t.Helper()
	listed := map[string]bool{"manifest.json": true}
	for _, f := range m.Files {
		listed[f.Path] = true
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("%s listed in the manifest but not extracted: %v", f.Path, err)
			continue
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Size {
			t.Errorf("%s: extracted %d bytes sha256 %x, manifest says %d bytes %s", f.Path, len(data), sum, f.Size, f.SHA256)
		}
	}
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !listed[filepath.ToSlash(rel)] {
			t.Errorf("%s extracted but not in the manifest", rel)
		}
		return nil
	}))
}

// have requires the tools on PATH (the shared policy of internal/testutil:
// skip locally, fail under CI).
func have(t *testing.T, tools ...string) {
	t.Helper()
	testutil.NeedTool(t, tools...)
}

// needRoot requires root (skip locally, fail under CI).
func needRoot(t *testing.T) {
	t.Helper()
	testutil.NeedRoot(t)
}
