package redact

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func FuzzRedact(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"password = x", `export DB_PASSWORD="a b`, "key: |\n  abc\nx: 1",
		"tokens:\n  - a\n- b", `{"tokens": ["a", "b"]}`, "\"t\": [\n\"a\",\n]",
		"https://u:p@h?token=x&a=b", "Authorization: Bearer x",
		"-----BEGIN PRIVATE KEY-----\nabc\n", "--password x --token=y",
		"<password>x</password>", "password: 'a''b'", "pass='\n'\n",
	} {
		f.Add([]byte(s))
	}
	const secret = "Hunter2secret"
	r := New("pin").WithValues(secret)
	f.Fuzz(func(t *testing.T, in []byte) { checkInvariants(t, r, secret, in) })
}

// checkInvariants checks what must hold for any input: the secret value is
// gone, lines are kept, a second pass changes nothing, Copy equals Bytes
// and Args keeps the argument count and is idempotent.
func checkInvariants(t *testing.T, r *Redactor, secret string, in []byte) {
	t.Helper()
	out, n := r.Bytes(in)
	if bytes.Contains(out, []byte(secret)) {
		t.Fatalf("secret value left in output\nin:  %q\nout: %q", in, out)
	}
	if n < 0 {
		t.Fatalf("negative count %d", n)
	}
	if got, want := bytes.Count(out, []byte("\n")), bytes.Count(in, []byte("\n")); got != want {
		t.Fatalf("%d lines out, %d in\nin:  %q\nout: %q", got, want, in, out)
	}
	if n == 0 && !bytes.Equal(in, out) {
		t.Fatalf("changed with count 0\nin:  %q\nout: %q", in, out)
	}
	again, n2 := r.Bytes(out)
	if !bytes.Equal(again, out) || n2 != 0 {
		t.Fatalf("not idempotent (count %d)\nin:    %q\nout:   %q\nagain: %q", n2, in, out, again)
	}
	var buf bytes.Buffer
	if n3, err := r.Copy(&buf, bytes.NewReader(in)); err != nil || n3 != n || !bytes.Equal(buf.Bytes(), out) {
		t.Fatalf("Copy differs from Bytes: %d %v\n%q\n%q", n3, err, buf.Bytes(), out)
	}
	args := strings.Fields(string(in))
	aout, _ := r.Args(args)
	if len(aout) != len(args) {
		t.Fatalf("Args changed the argument count")
	}
	if aagain, an := r.Args(aout); !reflect.DeepEqual(aagain, aout) || an != 0 {
		t.Fatalf("Args not idempotent (count %d)\nin:    %q\nout:   %q\nagain: %q", an, args, aout, aagain)
	}
}

// TestRandomInputs feeds random mixes of the pieces the rules look for
// (keys, separators, quotes, YAML and SMTP syntax, the secret value) through
// the invariants of the fuzz test, so every run covers them.
func TestRandomInputs(t *testing.T) {
	const secret = "Hunter2secret"
	r := New("pin").WithValues(secret)
	pieces := []string{"password", ":", " ", "\n", "\"", "'", "-", "--", "[", "]", "{", "}", "!", "&", "|",
		">", "=", "x", "AUTH PLAIN ", "334 UGFzc3dvcmQ6", "-u", secret, "\t", "#", ",", "token", "://", "@", "- ",
		"\r", "pin", "\\", "-----BEGIN PRIVATE KEY-----", "SHVudGVyMnNlY3JldA=="}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for j := rng.IntN(14); j >= 0; j-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		checkInvariants(t, r, secret, []byte(b.String()))
		if t.Failed() {
			return
		}
	}
}
