package collectors

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

const gib = float64(1 << 30)

var t0 = time.Date(2025, 3, 3, 2, 0, 0, 0, time.UTC)

// run feeds one sample a minute for d, with used(t) bytes, and calls check
// with the forecast after every sample.
func run(s *usageSeries, start time.Time, d time.Duration, capacity float64, window time.Duration,
	used func(elapsed time.Duration) float64, check func(elapsed time.Duration, f Forecast)) {
	for e := time.Duration(0); e <= d; e += time.Minute {
		s.add(start.Add(e), used(e), capacity, window)
		if check != nil {
			check(e, s.forecast(window))
		}
	}
}

func TestForecastSteadyGrowth(t *testing.T) {
	// 100 GiB filesystem, 40 GiB used, growing 6 GiB/h: full 10 h after t0.
	var s usageSeries
	window := 6 * time.Hour
	sawForecast := false
	run(&s, t0, 5*time.Hour, 100*gib, window, func(e time.Duration) float64 { return 40*gib + 6*gib*e.Hours() },
		func(e time.Duration, f Forecast) {
			switch {
			case e < window/2:
				if f.Status != ForecastCollecting || !strings.HasPrefix(f.Note, "no forecast yet") {
					t.Fatalf("at %s: %+v, want collecting", e, f)
				}
			default:
				sawForecast = true
				want := 10*time.Hour - e
				if f.Status != ForecastGrowing || math.Abs(f.ETA.Hours()-want.Hours()) > 0.05 {
					t.Fatalf("at %s: %+v, want growing with ETA %s", e, f, want)
				}
				if math.Abs(f.SlopeBytesPerHour-6*gib) > 0.01*gib || f.R2 < 0.999 {
					t.Fatalf("at %s: slope %.0f r2 %.3f", e, f.SlopeBytesPerHour, f.R2)
				}
				if !f.Warns(24*time.Hour) || f.Warns(time.Hour) && want > time.Hour {
					t.Fatalf("at %s: Warns wrong for ETA %s", e, f.ETA)
				}
			}
		})
	if !sawForecast {
		t.Fatal("no forecast")
	}
	f := s.forecast(window)
	if f.Note != "full in ~5 h at 6.0 GiB/h" {
		t.Errorf("note %q", f.Note)
	}
	if n := len(s.samples); n > forecastMaxSamples || n < 300 {
		t.Errorf("%d samples kept for a %s window at one a minute", n, window)
	}
}

func TestForecastFlat(t *testing.T) {
	var s usageSeries
	run(&s, t0, 8*time.Hour, 100*gib, 6*time.Hour, func(time.Duration) float64 { return 50 * gib }, nil)
	if f := s.forecast(6 * time.Hour); f.Status != ForecastFlat || f.ETA != 0 || f.Warns(24*time.Hour) {
		t.Fatalf("flat series: %+v", f)
	}
	// Small noise around a level is flat or irregular, never a forecast.
	var n usageSeries
	run(&n, t0, 8*time.Hour, 100*gib, 6*time.Hour, func(e time.Duration) float64 {
		return 50*gib + 20e6*math.Sin(float64(e/time.Minute)*1.7)
	}, func(e time.Duration, f Forecast) {
		if f.Status == ForecastGrowing || f.Status == ForecastCyclic {
			t.Fatalf("noise at %s: %+v", e, f)
		}
	})
}

func TestForecastTooFewSamples(t *testing.T) {
	var s usageSeries
	if f := s.forecast(6 * time.Hour); f.Status != ForecastCollecting || f.Note != "no forecast yet: no samples" {
		t.Fatalf("empty: %+v", f)
	}
	// Fast growth but only 5 samples: no forecast yet.
	for i := range 5 {
		s.add(t0.Add(time.Duration(i)*time.Hour), float64(i)*10*gib, 100*gib, 6*time.Hour)
	}
	f := s.forecast(6 * time.Hour)
	if f.Status != ForecastCollecting || f.Samples != 5 || f.Note != "no forecast yet: 5 samples over 4h, need 10 over 3h" {
		t.Fatalf("5 samples: %+v", f)
	}
	// Many samples over too short a span: still none.
	var q usageSeries
	run(&q, t0, 2*time.Hour, 100*gib, 6*time.Hour, func(e time.Duration) float64 { return 10 * gib * e.Hours() }, nil)
	if f := q.forecast(6 * time.Hour); f.Status != ForecastCollecting {
		t.Fatalf("2h of samples: %+v", f)
	}
}

// sawtooth returns used bytes for a rotate-and-clean cycle: from base, grow
// by amp over period-step, then all archives are deleted at once.
func sawtooth(base, amp float64, period time.Duration, rise func(cycle int) float64) func(time.Duration) float64 {
	return func(e time.Duration) float64 {
		cycle := int(e / period)
		phase := float64(e%period) / float64(period-time.Minute)
		return base + rise(cycle) + amp*math.Min(phase, 1)
	}
}

func TestForecastShortSawtooth(t *testing.T) {
	// Logs rotated and cleaned every 2 hours: 5 GiB of growth each time on a
	// filesystem with 8 GiB free at the top. The segment since the last
	// cleanup never spans half the 6 h window, so there is never a forecast.
	var s usageSeries
	run(&s, t0, 72*time.Hour, 100*gib, 6*time.Hour, sawtooth(87*gib, 5*gib, 2*time.Hour, func(int) float64 { return 0 }),
		func(e time.Duration, f Forecast) {
			if f.Status == ForecastGrowing || f.Warns(24*time.Hour) {
				t.Fatalf("at %s: %+v", e, f)
			}
		})
}

func TestForecastDailySawtooth(t *testing.T) {
	// The PBX case: 20 GiB of logs a day on a 200 GiB filesystem, archives
	// deleted every night, the top of the cycle at 80%. Late in the day the
	// line through the day's growth says "full in ~46 h"; with a 48 h
	// horizon that would warn every evening. Once a cleanup has been seen,
	// the growth is recognised as cyclic and never forecast.
	var s usageSeries
	window, horizon := 6*time.Hour, 48*time.Hour
	day := 24 * time.Hour
	warnedBeforeCleanup := false
	run(&s, t0, 4*day, 200*gib, window, sawtooth(140*gib, 20*gib, day, func(int) float64 { return 0 }),
		func(e time.Duration, f Forecast) {
			if e < day {
				warnedBeforeCleanup = warnedBeforeCleanup || f.Warns(horizon)
				return
			}
			if f.Status == ForecastGrowing || f.Warns(horizon) {
				t.Fatalf("at %s after a cleanup: %+v", e, f)
			}
			if e%day >= window/2 && f.Status != ForecastCyclic {
				t.Fatalf("at %s: status %s, want cyclic: %+v", e, f.Status, f)
			}
		})
	if !warnedBeforeCleanup {
		t.Error("the plain fit never warned before the first cleanup: the test does not exercise the guard")
	}
}

func TestForecastSawtoothTrendingUp(t *testing.T) {
	// The same cycle, but each cleanup frees 4 GiB less than the day wrote:
	// once the usage passes the previous peak the forecast applies again.
	var s usageSeries
	window, day := 6*time.Hour, 24*time.Hour
	growing := 0
	run(&s, t0, 4*day, 200*gib, window, sawtooth(140*gib, 20*gib, day, func(c int) float64 { return float64(c) * 4 * gib }),
		func(e time.Duration, f Forecast) {
			if e > day && f.Status == ForecastGrowing {
				growing++
				if f.Note == "" || f.ETA <= 0 {
					t.Fatalf("at %s: %+v", e, f)
				}
			}
		})
	if growing == 0 {
		t.Fatal("a sawtooth whose peaks rise never produced a forecast")
	}
}

func TestForecastClockBack(t *testing.T) {
	var s usageSeries
	run(&s, t0, 4*time.Hour, 100*gib, 6*time.Hour, func(e time.Duration) float64 { return 10 * gib * e.Hours() }, nil)
	s.add(t0.Add(-time.Hour), 5*gib, 100*gib, 6*time.Hour)
	if len(s.samples) != 1 {
		t.Fatalf("clock back kept %d samples", len(s.samples))
	}
	if f := s.forecast(6 * time.Hour); f.Status != ForecastCollecting {
		t.Fatalf("after clock back: %+v", f)
	}
}

func TestForecastBounded(t *testing.T) {
	var s usageSeries
	for i := range 20000 {
		s.add(t0.Add(time.Duration(i)*time.Second), float64(i), 1e12, 6*time.Hour)
	}
	if len(s.samples) > forecastMaxSamples {
		t.Fatalf("%d samples", len(s.samples))
	}
	first, last := s.samples[0].t, s.samples[len(s.samples)-1].t
	if last.Sub(first) > 6*time.Hour {
		t.Fatalf("buffer spans %s", last.Sub(first))
	}
}

func TestEtaText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "now", 40 * time.Minute: "~40 min", 7*time.Hour + 10*time.Minute: "~7 h",
		72 * time.Hour: "~3 days", forecastMaxETA: "more than 10 years",
	} {
		if got := etaText(d); got != want {
			t.Errorf("etaText(%s) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		2 * time.Hour: "2h", 150 * time.Minute: "2h 30m", 90 * time.Second: "1m", 3 * 24 * time.Hour: "3d", -time.Second: "0s",
	} {
		if got := roughDuration(d); got != want {
			t.Errorf("roughDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func FuzzForecast(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, uint64(1<<40), uint16(60))
	f.Add(make([]byte, 400), uint64(0), uint16(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}, ^uint64(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, capacity uint64, windowMin uint16) {
		var s usageSeries
		window := time.Duration(windowMin) * time.Minute
		tm := t0
		for len(data) >= 9 {
			used := binary.LittleEndian.Uint64(data[:8])
			// The step's high bit moves the clock back.
			step := time.Duration(data[8]&0x7f) * 37 * time.Second
			if data[8]&0x80 != 0 {
				step = -step
			}
			tm = tm.Add(step)
			s.add(tm, float64(used), float64(capacity), window)
			data = data[9:]
			fc := s.forecast(window)
			for _, v := range []float64{fc.SlopeBytesPerHour, fc.R2, fc.SpanSeconds, float64(fc.ETA)} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("non-finite value in %+v", fc)
				}
			}
			if fc.ETA < 0 || fc.R2 < 0 || fc.R2 > 1 || len(s.samples) > forecastMaxSamples {
				t.Fatalf("out of range: %+v (%d samples)", fc, len(s.samples))
			}
			if _, err := json.Marshal(fc); err != nil {
				t.Fatalf("encode: %v", err)
			}
		}
	})
}
