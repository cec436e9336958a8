package analyze

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// PortSet is the UDP ports a capture's filter kept: single ports and
// inclusive ranges. A nil *PortSet keeps every port.
type PortSet struct {
	Ports  []int
	Ranges [][2]int
}

// Has reports whether the set keeps port.
func (s *PortSet) Has(port int) bool {
	if s == nil {
		return true
	}
	for _, p := range s.Ports {
		if p == port {
			return true
		}
	}
	for _, r := range s.Ranges {
		if port >= r[0] && port <= r[1] {
			return true
		}
	}
	return false
}

var (
	filterRangeRE = regexp.MustCompile(`\bportrange (\d+)-(\d+)\b`)
	filterPortRE  = regexp.MustCompile(`\bport (\d+)\b`)
)

// ParseCaptureFilter reads the ports of a filter as pbxagent's capture
// writes it into a bundle's manifest ("((udp or tcp) and (port 5060 or
// ...)) or (udp and portrange 45000-65000) or ..."). It returns nil,
// every port kept, when the filter names no port (--all, hosts only) and
// when it says anything it does not understand, so that a filter it
// cannot read never hides a finding.
func ParseCaptureFilter(expr string) *PortSet {
	if !strings.Contains(expr, "port") {
		return nil
	}
	rest := expr
	s := &PortSet{}
	for _, m := range filterRangeRE.FindAllStringSubmatch(expr, -1) {
		lo, _ := strconv.Atoi(m[1])
		hi, _ := strconv.Atoi(m[2])
		s.Ranges = append(s.Ranges, [2]int{lo, hi})
		rest = strings.Replace(rest, m[0], "", 1)
	}
	for _, m := range filterPortRE.FindAllStringSubmatch(rest, -1) {
		p, _ := strconv.Atoi(m[1])
		s.Ports = append(s.Ports, p)
		rest = strings.Replace(rest, m[0], "", 1)
	}
	if strings.Contains(rest, "port") || strings.Contains(rest, "not ") {
		return nil
	}
	return s
}

// codeNotCaptured is the finding for answered calls whose audio went to
// ports the capture's filter left out: whether it flowed was not checked.
const codeNotCaptured = "media-not-captured"

// audioNotCaptured reports whether a side that received no RTP announced
// a port the capture's filter did not keep.
func (a *Analyzer) audioNotCaptured(st *dialogState, missing []int) bool {
	for _, p := range missing {
		if s := st.latestSDP(p); s != nil && !a.opt.CapturedPorts.Has(s.Port) {
			return true
		}
	}
	return false
}

// notCapturedFinding states a group of calls whose audio was not checked.
func (a *Analyzer) notCapturedFinding(g *audioGroup) Finding {
	f := Finding{Severity: Info, Code: codeNotCaptured}
	var ports []string
	for i, d := range g.dialogs {
		f.CallIDs = appendUnique(f.CallIDs, d.CallID)
		for _, p := range g.missing {
			if s := g.states[i].latestSDP(p); s != nil && !a.opt.CapturedPorts.Has(s.Port) {
				ports = appendUnique(ports, fmt.Sprintf("%s:%d", s.Addr, s.Port))
			}
		}
	}
	if len(f.CallIDs) == 1 {
		f.CallID = f.CallIDs[0]
	}
	f.Title = fmt.Sprintf("Audio not checked in %s (%s): its ports were not captured", plural(len(g.dialogs), "answered call"), g.dialogs[0].Direction)
	f.Detail = fmt.Sprintf("The SDP announced audio on %s, outside the ports the capture's filter kept, so the capture cannot show whether audio flowed.",
		strings.Join(ports, ", "))
	f.Remedy = []string{"Take the bundle again with those ports included (pbxagent bundle --duration 60s --all, or --rtp-range covering them) and reproduce the call."}
	return f
}

// readCaptureFilter sets opt.CapturedPorts from a bundle's manifest: the
// filter its live capture ran with. A manifest it cannot read, or one
// whose capture also holds the flight recorder's packets, changes nothing.
func readCaptureFilter(r io.Reader, opt *Options) error {
	var m struct {
		Sections struct {
			Capture struct {
				Filter string `json:"filter"`
			} `json:"capture"`
			// Packets from the flight recorder may have had another
			// filter: then every port counts as captured.
			Recorder json.RawMessage `json:"recorder"`
		} `json:"sections"`
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSystemFile))
	if err != nil {
		return fmt.Errorf("read manifest.json: %w", err)
	}
	if json.Unmarshal(data, &m) == nil && m.Sections.Recorder == nil {
		opt.CapturedPorts = ParseCaptureFilter(m.Sections.Capture.Filter)
	}
	return nil
}
