// Command mkzip writes a zip archive whose bytes depend only on its inputs:
// entries sorted by name, every entry dated SOURCE_DATE_EPOCH (or -mtime),
// mode 0644, no owner or host fields. scripts/package.sh uses it for the
// Windows package, so two builds of one commit give identical zips.
//
//	mkzip -o out.zip [-mtime SECONDS] [-crlf] NAME=FILE...
//
// With -crlf, entries ending in .txt, .yaml or .yml get Windows line endings.
package main

import (
	"archive/zip"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

type entry struct{ name, src string }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkzip", flag.ContinueOnError)
	out := fs.String("o", "", "output zip file")
	mtime := fs.Int64("mtime", -1, "modification time of every entry, seconds since 1970 (default $SOURCE_DATE_EPOCH)")
	crlf := fs.Bool("crlf", false, "convert .txt, .yaml and .yml entries to CRLF line endings")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("usage: mkzip -o out.zip [-mtime SECONDS] [-crlf] NAME=FILE [NAME=FILE]")
	}
	if *mtime < 0 {
		v, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
		if err != nil {
			return errors.New("set -mtime or SOURCE_DATE_EPOCH")
		}
		*mtime = v
	}
	// The zip format cannot date anything before 1980.
	mod := time.Unix(*mtime, 0).UTC()
	if mod.Year() < 1980 {
		mod = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}

	var entries []entry
	seen := map[string]bool{}
	for _, a := range fs.Args() {
		name, src, ok := strings.Cut(a, "=")
		if !ok || name == "" || src == "" {
			return fmt.Errorf("%q: want NAME=FILE", a)
		}
		if path.IsAbs(name) || strings.Contains(name, `\`) || path.Clean(name) != name || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%q: entry names are relative, clean, with forward slashes", name)
		}
		if seen[name] {
			return fmt.Errorf("%q: given twice", name)
		}
		seen[name] = true
		entries = append(entries, entry{name, src})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	tmp := *out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	zw := zip.NewWriter(f)
	for _, e := range entries {
		data, err := os.ReadFile(e.src)
		if err != nil {
			f.Close()
			return err
		}
		if *crlf && isText(e.name) {
			data = toCRLF(data)
		}
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mod}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		if err == nil {
			_, err = w.Write(data)
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

func isText(name string) bool {
	for _, ext := range []string{".txt", ".yaml", ".yml"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// toCRLF turns every LF (or existing CRLF) into CRLF.
func toCRLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}
