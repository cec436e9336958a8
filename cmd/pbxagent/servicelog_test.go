package main

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

type recordLogger struct{ lines []string }

func (r *recordLogger) Error(v ...any) error   { return r.add("E", v) }
func (r *recordLogger) Warning(v ...any) error { return r.add("W", v) }
func (r *recordLogger) Info(v ...any) error    { return r.add("I", v) }
func (r *recordLogger) Errorf(f string, v ...any) error {
	return r.add("E", []any{fmt.Sprintf(f, v...)})
}
func (r *recordLogger) Warningf(f string, v ...any) error {
	return r.add("W", []any{fmt.Sprintf(f, v...)})
}
func (r *recordLogger) Infof(f string, v ...any) error {
	return r.add("I", []any{fmt.Sprintf(f, v...)})
}
func (r *recordLogger) add(level string, v []any) error {
	r.lines = append(r.lines, level+" "+fmt.Sprint(v...))
	return nil
}

func TestServiceHandler(t *testing.T) {
	rl := &recordLogger{}
	log := slog.New(newServiceHandler(rl, slog.LevelInfo)).With("host", "pbx1").WithGroup("check")
	log.Debug("hidden")
	log.Info("round done", "state", "OK")
	log.Warn("check failed", "name", "disk")
	log.Error("stopped", "err", "boom")
	want := []string{
		`I round done host="pbx1" check.state="OK"`,
		`W check failed host="pbx1" check.name="disk"`,
		`E stopped host="pbx1" check.err="boom"`,
	}
	if strings.Join(rl.lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(rl.lines, "\n"), strings.Join(want, "\n"))
	}
}
