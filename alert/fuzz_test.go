package alert

import (
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/collectors"
)

// FuzzObserve feeds random state sequences for three checks with random
// gaps between rounds, restarting the engine now and then, and checks that
// it never panics, never sends two digests within one digest window and
// never lists a check twice in one digest.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{0, 2, 0, 2, 0, 2, 1, 1, 1, 3, 3, 3})
	f.Add([]byte{2, 2, 2, 2, 0, 0, 0, 0, 255, 17, 2, 2})
	f.Add([]byte{0x42, 0x99, 0x13, 0x07, 0xff, 0x00, 0x80})
	const digest = 30 * time.Second
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		consecutive := 1
		if len(data) > 0 {
			consecutive = int(data[0]%4) + 1
		}
		e := newEngine(t, dir, consecutive, time.Hour, digest)
		now := t0
		var last time.Time
		names := []string{"disk", "logs", "memory"}
		for i := 1; i+1 < len(data); i += 2 {
			b, step := data[i], data[i+1]
			if step == 0xff {
				e = newEngine(t, dir, consecutive, time.Hour, digest)
				continue
			}
			var outs []collectors.Outcome
			for j, name := range names {
				v := (int(b) >> (2 * j)) & 3
				o := collectors.Outcome{Name: name, Report: &collectors.Report{
					State:  collectors.State(v),
					Sticky: collectors.State((int(b) >> 6) & 3),
				}}
				switch {
				case v == 3 && j == 0:
					o = collectors.Outcome{Name: name, Err: collectors.ErrNoData, NoData: true}
				case v == 3 && j == 1:
					o = collectors.Outcome{Name: name, Err: errTest}
				}
				outs = append(outs, o)
			}
			if err := e.Observe(now, outs); err != nil {
				t.Fatal(err)
			}
			for k := 0; k < int(step%8); k++ {
				if d := e.Due(now); d != nil {
					if !last.IsZero() && now.Sub(last) < digest {
						t.Fatalf("two digests %s apart", now.Sub(last))
					}
					last = now
					seen := map[string]bool{}
					for _, it := range d.Items {
						if seen[it.Check] {
							t.Fatalf("check %s twice in one digest", it.Check)
						}
						seen[it.Check] = true
					}
					_ = d.Subject()
					_ = d.Text()
					_ = d.HTML()
				}
				now = now.Add(time.Duration(step) * time.Second)
			}
			now = now.Add(time.Duration(step) * 7 * time.Second)
		}
	})
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("collector failed")
