package recorder

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ControlSocket is the file name of the ring's control socket in the ring
// folder: a reader (the CLI's `bundle --last`) asks the service to seal the
// open segment so it never reads a segment while it is written.
const ControlSocket = "control.sock"

// sealWait bounds the wait for the writer's next flush before sealing.
const sealWait = 3 * time.Second

// controlRequest and controlReply are one JSON line each.
type controlRequest struct {
	Op string `json:"op"`
}

type controlReply struct {
	OK       bool    `json:"ok"`
	Error    string  `json:"error,omitempty"`
	Segments []Index `json:"segments,omitempty"`
	Stats    *Stats  `json:"stats,omitempty"`
}

// Serve answers control requests on the ring's socket until ctx is done.
// The socket is created with mode 0600 in the 0700 ring folder, and on
// Linux only a peer running as root or as the service's own user is
// answered.
func (r *Ring) Serve(ctx context.Context) error {
	path := filepath.Join(r.opt.Dir, ControlSocket)
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("recorder: %s exists and is not a socket; move it away", path)
		}
		os.Remove(path) // a stale socket of an earlier run
	}
	lc := net.ListenConfig{}
	l, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("recorder: control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("recorder: control socket: %w", err)
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	defer os.Remove(path)
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("recorder: control socket: %w", err)
		}
		go r.answer(c, r.log)
	}
}

func (r *Ring) answer(c net.Conn, log *slog.Logger) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := peerAllowed(c); err != nil {
		log.Warn("recorder: control request refused", "err", err)
		return
	}
	var req controlRequest
	line, err := bufio.NewReader(&limited{c, 4096}).ReadBytes('\n')
	if err != nil {
		return
	}
	var rep controlReply
	if err := json.Unmarshal(line, &req); err != nil {
		rep.Error = "bad request"
	} else {
		switch req.Op {
		case "seal":
			if err := r.SealAfter(time.Now(), sealWait); err != nil {
				rep.Error = err.Error()
			} else {
				rep.OK = true
				rep.Segments = r.Segments()
			}
		case "stats":
			s := r.Stats()
			rep.OK, rep.Stats = true, &s
		default:
			rep.Error = fmt.Sprintf("unknown request %q", req.Op)
		}
	}
	_ = json.NewEncoder(c).Encode(rep)
}

// limited reads at most n bytes.
type limited struct {
	c net.Conn
	n int
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("request too long")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.c.Read(p)
	l.n -= n
	return n, err
}

// ErrNoService is returned by [SealRemote] when no recorder answers on the
// ring's socket.
var ErrNoService = errors.New("no running recorder")

// SealRemote asks the running service to seal its open segment and returns
// the finished segments. It returns an error wrapping [ErrNoService] when
// no service listens on the ring folder's socket.
func SealRemote(ctx context.Context, dir string) ([]Index, error) {
	rep, err := call(ctx, dir, "seal")
	if err != nil {
		return nil, err
	}
	return rep.Segments, nil
}

// StatsRemote asks the running service for the ring's counters.
func StatsRemote(ctx context.Context, dir string) (Stats, error) {
	rep, err := call(ctx, dir, "stats")
	if err != nil || rep.Stats == nil {
		return Stats{}, err
	}
	return *rep.Stats, nil
}

func call(ctx context.Context, dir, op string) (*controlReply, error) {
	path := filepath.Join(dir, ControlSocket)
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrNoService, path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := json.NewEncoder(c).Encode(controlRequest{Op: op}); err != nil {
		return nil, fmt.Errorf("recorder: ask the service: %w", err)
	}
	var rep controlReply
	if err := json.NewDecoder(&limited{c, 64 << 20}).Decode(&rep); err != nil {
		return nil, fmt.Errorf("recorder: the service did not answer (%v); is it running as root?", err)
	}
	if !rep.OK {
		return nil, fmt.Errorf("recorder: the service answered: %s", rep.Error)
	}
	return &rep, nil
}
