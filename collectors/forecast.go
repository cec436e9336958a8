package collectors

import (
	"fmt"
	"math"
	"time"
)

// The disk forecast estimates when a filesystem will be full from the used
// bytes the disk collector samples at every Collect (every minute in the
// service).
//
// It is a least-squares line through the samples, as Prometheus'
// predict_linear, with guards so that it does not fire on the daily
// rotate-and-clean sawtooth of a PBX log folder (logs grow all day, archives
// are deleted at night):
//
//  1. History: per filesystem, a bounded buffer of (time, used bytes) covering
//     the forecast window (at most forecastMaxSamples samples; samples closer
//     than window/forecastMaxSamples replace the newest one). A clock that
//     goes back clears the history.
//  2. Segment: a significant drop (used falls by more than a quarter of the
//     range seen in the window, and by at least 0.5% of the filesystem) marks
//     a cleanup. Only the samples since the last cleanup are fitted, because
//     the growth before it no longer predicts anything.
//  3. Enough data: the segment needs at least forecastMinSamples samples
//     spanning at least half the window; otherwise the status is
//     "collecting" ("no forecast yet").
//  4. A real trend: growth below 0.1% of the filesystem per day is "flat",
//     a falling line is "shrinking", and a fit with R² below forecastMinR2
//     is "irregular". None of them forecasts anything.
//  5. Cycle guard: the filesystem remembers its last cleanup and the peak
//     used just before it for forecastCycleMemory (36 h, more than a daily
//     cycle). While the used space has not passed that peak (by more than
//     0.5% of the filesystem), the growth is part of the rotate-and-clean
//     cycle: status "cyclic", no warning. Once the used space passes the
//     previous peak the cleanups no longer keep
//     up, and the forecast applies again. On the first day after the agent
//     starts no cleanup has been seen yet, so the guard cannot apply.
//
// Only status "growing" carries a time-to-full that can raise a warning.
const (
	forecastMaxSamples     = 720
	forecastMinSamples     = 10
	forecastMinR2          = 0.8
	forecastDropOfRange    = 0.25
	forecastDropOfCapacity = 0.005
	forecastFlatPerDay     = 0.001
	forecastCycleMemory    = 36 * time.Hour
	forecastMaxETA         = 10 * 365 * 24 * time.Hour
)

// Forecast statuses.
const (
	// ForecastCollecting: not enough history since start or the last cleanup.
	ForecastCollecting = "collecting"
	// ForecastFlat: no meaningful growth.
	ForecastFlat = "flat"
	// ForecastShrinking: usage is falling.
	ForecastShrinking = "shrinking"
	// ForecastIrregular: usage moves, but not along a line.
	ForecastIrregular = "irregular"
	// ForecastCyclic: growing, but still below the peak before the last
	// cleanup; part of a rotate-and-clean cycle.
	ForecastCyclic = "cyclic"
	// ForecastGrowing: steady growth; ETA is the time until full.
	ForecastGrowing = "growing"
)

// Forecast is the growth estimate of one filesystem.
type Forecast struct {
	// Status is one of the Forecast* statuses.
	Status string `json:"status"`
	// Samples are the samples fitted (since the last cleanup, within the
	// window) and SpanSeconds the time they cover.
	Samples     int     `json:"samples"`
	SpanSeconds float64 `json:"span_seconds"`
	// SlopeBytesPerHour is the fitted growth rate and R2 the fit's quality
	// (1 is a perfect line); both are zero while collecting.
	SlopeBytesPerHour float64 `json:"slope_bytes_per_hour"`
	R2                float64 `json:"r2"`
	// ETA is the time until the filesystem is full and FullAt that moment,
	// set for growing and cyclic statuses.
	ETA    time.Duration `json:"eta_ns,omitempty"`
	FullAt time.Time     `json:"full_at,omitzero"`
	// LastCleanup is the last significant drop remembered, if any.
	LastCleanup time.Time `json:"last_cleanup,omitzero"`
	// Note explains the status for people.
	Note string `json:"note"`
}

// Warns reports whether the forecast says full within horizon (0 disables).
func (f Forecast) Warns(horizon time.Duration) bool {
	return horizon > 0 && f.Status == ForecastGrowing && f.ETA <= horizon
}

type usageSample struct {
	t    time.Time
	used float64
	// drop marks the first sample after a cleanup.
	drop bool
}

// usageSeries is the bounded usage history of one filesystem.
type usageSeries struct {
	samples  []usageSample
	capacity float64 // used + available at the newest sample
	lastDrop time.Time
	dropPeak float64
}

// add records one sample taken at t, keeping only the window.
func (s *usageSeries) add(t time.Time, used, capacity float64, window time.Duration) {
	if math.IsNaN(used) || math.IsInf(used, 0) || math.IsNaN(capacity) || math.IsInf(capacity, 0) {
		return
	}
	if n := len(s.samples); n > 0 && t.Before(s.samples[n-1].t) {
		*s = usageSeries{} // the clock went back: start over
	}
	s.capacity = capacity
	smp := usageSample{t: t, used: used}
	if n := len(s.samples); n > 0 {
		prev := s.samples[n-1]
		lo, hi := prev.used, prev.used
		for _, x := range s.samples {
			lo, hi = math.Min(lo, x.used), math.Max(hi, x.used)
		}
		if prev.used-used > math.Max(forecastDropOfRange*(hi-lo), forecastDropOfCapacity*capacity) {
			smp.drop = true
			peak := prev.used
			for i := n - 1; i >= 0; i-- {
				peak = math.Max(peak, s.samples[i].used)
				if s.samples[i].drop {
					break
				}
			}
			s.lastDrop, s.dropPeak = t, peak
		}
		if minGap := window / forecastMaxSamples; t.Sub(prev.t) < minGap {
			smp.drop = smp.drop || prev.drop
			s.samples[n-1] = smp
			s.trim(t, window)
			return
		}
	}
	s.samples = append(s.samples, smp)
	s.trim(t, window)
}

// trim drops samples older than the window before now and keeps the buffer
// bounded.
func (s *usageSeries) trim(now time.Time, window time.Duration) {
	k := 0
	for k < len(s.samples) && now.Sub(s.samples[k].t) > window {
		k++
	}
	if extra := len(s.samples) - k - forecastMaxSamples; extra > 0 {
		k += extra
	}
	if k > 0 {
		s.samples = append(s.samples[:0], s.samples[k:]...)
	}
}

// forecast fits the samples since the last cleanup (see the package-level
// description above).
func (s *usageSeries) forecast(window time.Duration) Forecast {
	var f Forecast
	n := len(s.samples)
	if n == 0 {
		f.Status, f.Note = ForecastCollecting, "no forecast yet: no samples"
		return f
	}
	last := s.samples[n-1]
	if !s.lastDrop.IsZero() && last.t.Sub(s.lastDrop) <= forecastCycleMemory {
		f.LastCleanup = s.lastDrop
	}
	start := 0
	for i := n - 1; i > 0; i-- {
		if s.samples[i].drop {
			start = i
			break
		}
	}
	seg := s.samples[start:]
	span := last.t.Sub(seg[0].t)
	f.Samples, f.SpanSeconds = len(seg), span.Seconds()
	if len(seg) < forecastMinSamples || span < window/2 {
		f.Status = ForecastCollecting
		f.Note = fmt.Sprintf("no forecast yet: %d samples over %s, need %d over %s", len(seg), roughDuration(span),
			forecastMinSamples, roughDuration(window/2))
		if start > 0 {
			f.Note += " since the last cleanup"
		}
		return f
	}
	slope, r2, fitNow, why := fitLine(seg, last.t)
	if why != "" {
		f.Status, f.Note = ForecastCollecting, "no forecast yet: "+why
		return f
	}
	f.SlopeBytesPerHour, f.R2 = slope, r2
	s.classify(&f, last, fitNow)
	return f
}

// fitLine fits usage against time by least squares and returns the slope in
// bytes per hour, the fit's R², and the fitted usage at now; or why there is
// no fit. It works in hours and bytes relative to the first sample, which
// keeps the sums small enough for float64.
func fitLine(seg []usageSample, now time.Time) (slope, r2, fitNow float64, why string) {
	t0, y0 := seg[0].t, seg[0].used
	var mx, my float64
	for _, p := range seg {
		mx += p.t.Sub(t0).Hours()
		my += p.used - y0
	}
	mx /= float64(len(seg))
	my /= float64(len(seg))
	var sxx, sxy, syy float64
	for _, p := range seg {
		dx, dy := p.t.Sub(t0).Hours()-mx, p.used-y0-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if !(sxx > 0) || !finite(sxy) || !finite(syy) {
		return 0, 0, 0, "samples do not spread over time"
	}
	slope = sxy / sxx
	r2 = 1.0
	if syy > 0 {
		r2 = math.Min(1, sxy*sxy/(sxx*syy))
	}
	fitNow = y0 + my + slope*(now.Sub(t0).Hours()-mx)
	if !finite(slope) || !finite(r2) || !finite(fitNow) {
		return 0, 0, 0, "the fit is not a number"
	}
	return slope, r2, fitNow, ""
}

// classify sets f's status, note and, for growth, the time until full, from
// the fitted slope and R² and the usage fitNow fitted at the last sample.
func (s *usageSeries) classify(f *Forecast, last usageSample, fitNow float64) {
	slope, r2 := f.SlopeBytesPerHour, f.R2
	switch {
	case math.Abs(slope)*24 < forecastFlatPerDay*s.capacity || s.capacity <= 0:
		f.Status, f.Note = ForecastFlat, "usage is flat"
		return
	case slope < 0:
		f.Status, f.Note = ForecastShrinking, fmt.Sprintf("usage is falling by %s/h", formatBytes(uint64(-slope)))
		return
	case r2 < forecastMinR2:
		f.Status, f.Note = ForecastIrregular, fmt.Sprintf("usage moves irregularly (R² %.2f); no trend", r2)
		return
	}
	etaHours := math.Max(0, (s.capacity-fitNow)/slope)
	f.ETA = forecastMaxETA
	if etaHours < forecastMaxETA.Hours() {
		f.ETA = time.Duration(etaHours * float64(time.Hour)).Round(time.Second)
	}
	f.FullAt = last.t.Add(f.ETA)
	if !f.LastCleanup.IsZero() && last.used <= s.dropPeak+forecastDropOfCapacity*s.capacity {
		f.Status = ForecastCyclic
		f.Note = fmt.Sprintf("growing %s/h but not above the %s used before the cleanup at %s: rotate-and-clean cycle",
			formatBytes(uint64(slope)), formatBytes(uint64(s.dropPeak)), s.lastDrop.Format("2006-01-02 15:04"))
		return
	}
	f.Status = ForecastGrowing
	f.Note = fmt.Sprintf("full in %s at %s/h", etaText(f.ETA), formatBytes(uint64(slope)))
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// etaText renders a time to full as "~40 min", "~7 h" or "~3 days".
func etaText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "now"
	case d < time.Hour:
		return fmt.Sprintf("~%d min", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("~%d h", int(d.Round(time.Hour)/time.Hour))
	case d >= forecastMaxETA:
		return "more than 10 years"
	default:
		return fmt.Sprintf("~%d days", int(d.Round(24*time.Hour)/(24*time.Hour)))
	}
}

// roughDuration renders a duration with its largest units: "45s", "12m",
// "2h", "2h 30m", "3d".
func roughDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}
