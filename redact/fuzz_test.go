package redact

import (
	"bytes"
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
	r := New("pin")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, n := r.Bytes(in)
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
	})
}
