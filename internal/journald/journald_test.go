package journald

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

type entry struct {
	msg    string
	pri    journal.Priority
	fields map[string]string
}

func capture(level slog.Level) (*slog.Logger, *[]entry) {
	var got []entry
	h := New("pbxagent", level, func(m string, p journal.Priority, f map[string]string) error {
		got = append(got, entry{m, p, f})
		return nil
	})
	return slog.New(h), &got
}

func TestPriorities(t *testing.T) {
	log, got := capture(slog.LevelDebug)
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	log.Error("e")
	want := []journal.Priority{journal.PriDebug, journal.PriInfo, journal.PriWarning, journal.PriErr}
	if len(*got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(*got), len(want))
	}
	for i, e := range *got {
		if e.pri != want[i] {
			t.Errorf("entry %d (%s): priority %d, want %d", i, e.msg, e.pri, want[i])
		}
		if e.fields["SYSLOG_IDENTIFIER"] != "pbxagent" {
			t.Errorf("entry %d: identifier %q", i, e.fields["SYSLOG_IDENTIFIER"])
		}
	}
}

func TestLevelFilter(t *testing.T) {
	log, got := capture(slog.LevelWarn)
	log.Info("hidden")
	log.Warn("shown")
	if len(*got) != 1 || (*got)[0].msg != "shown" {
		t.Fatalf("got %+v", *got)
	}
}

func TestFields(t *testing.T) {
	log, got := capture(slog.LevelInfo)
	log.With("check", "disk").WithGroup("g").Warn("check failed", "state", "CRITICAL", "err", "no space left", "priority", "x")
	e := (*got)[0]
	if e.msg != `check failed check=disk g.state=CRITICAL g.err="no space left" g.priority=x` {
		t.Errorf("message %q", e.msg)
	}
	for k, v := range map[string]string{"CHECK": "disk", "G_STATE": "CRITICAL", "G_ERR": "no space left", "G_PRIORITY": "x"} {
		if e.fields[k] != v {
			t.Errorf("field %s = %q, want %q (fields %v)", k, e.fields[k], v, e.fields)
		}
	}
	log.Info("x", "priority", "7", "MESSAGE", "spoof")
	e = (*got)[1]
	if e.fields["PRIORITY"] != "" || e.fields["MESSAGE"] != "" {
		t.Errorf("reserved field set from an attribute: %v", e.fields)
	}
}

func TestFieldName(t *testing.T) {
	for in, want := range map[string]string{
		"check": "CHECK", "window_left": "WINDOW_LEFT", "a.b-c": "A_B_C", "_x": "X",
		"1st": "ST", "": "", "message": "", "ünï": "N_",
	} {
		if got := FieldName(in); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSendError(t *testing.T) {
	h := New("x", slog.LevelInfo, func(string, journal.Priority, map[string]string) error { return errors.New("boom") })
	if err := h.Handle(context.Background(), slog.NewRecord(timeZero, slog.LevelInfo, "m", 0)); err == nil {
		t.Fatal("no error from a failing send")
	}
}

var timeZero time.Time
