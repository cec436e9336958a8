package analyze

import (
	"fmt"
	"strings"

	"github.com/pbxagent/pbxagent/guide"
)

// minScoredPackets is the size of a stream below which it is not scored.
const minScoredPackets = minStreamPackets

// worseDirection returns the quality of a call's worse scored stream.
func worseDirection(rep *Report, d *Dialog) *CallQuality {
	var out *CallQuality
	for _, i := range d.Streams {
		s := &rep.Streams[i]
		if s.Quality == nil || s.Packets < minScoredPackets {
			continue
		}
		if out == nil || s.Quality.MOS < out.MOS {
			out = &CallQuality{Stream: i, MOS: s.Quality.MOS, R: s.Quality.R, Direction: streamDirection(s)}
		}
	}
	return out
}

func streamDirection(s *RTPStream) string {
	name := func(e Endpoint) string {
		if e.Role == "" {
			return e.IP
		}
		return e.Role + " " + e.IP
	}
	return name(s.Src) + " → " + name(s.Dst)
}

// qualityFindings reports calls whose worse direction scores below the
// MOS threshold, with the E-model's inputs.
func (a *Analyzer) qualityFindings(rep *Report) []Finding {
	var ids, lines []string
	worst := 5.0
	for i := range rep.Calls {
		q := rep.Calls[i].Quality
		if q == nil || q.MOS >= a.opt.Quality.MOSWarn {
			continue
		}
		s := &rep.Streams[q.Stream]
		ids = append(ids, rep.Calls[i].CallID)
		worst = min(worst, q.MOS)
		lines = append(lines, fmt.Sprintf("%s: %s, %s; %s", rep.Calls[i].CallID, q.Direction, lossJitter(s), s.Quality.Formula))
	}
	if len(ids) == 0 {
		return nil
	}
	e, _ := guide.ForSituation(guide.PoorQuality)
	return []Finding{{Severity: Warning, Code: "poor-quality", CallIDs: ids, CallID: single(ids),
		Title: fmt.Sprintf("Poor audio quality (MOS down to %.2f, below %.1f) in %s", worst, a.opt.Quality.MOSWarn, plural(len(ids), "call")),
		Detail: "ITU-T G.107 E-model estimate from the measured loss and jitter of each call's worse direction. " +
			strings.Join(firstN(lines, 10), " | "),
		Remedy: e.Remedies}}
}

func lossJitter(s *RTPStream) string {
	return fmt.Sprintf("%.1f%% lost in %d bursts, max jitter %.1f ms", s.LossPercent, s.LossBursts, s.JitterMs)
}

func single(ids []string) string {
	if len(ids) == 1 {
		return ids[0]
	}
	return ""
}
