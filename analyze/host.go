package analyze

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/guide"
	"github.com/pbxagent/pbxagent/portsip"
)

// Disk levels used when the bundle holds only the mounts snapshot.
const (
	diskFullPercent = 95.0
	diskWarnPercent = 90.0
)

// outcome is a collectors.Outcome as a bundle stores it, with Data kept raw.
type outcome struct {
	Name   string `json:"name"`
	Report *struct {
		State   collectors.State `json:"state"`
		Summary string           `json:"summary"`
		Advice  string           `json:"advice,omitempty"`
		Data    json.RawMessage  `json:"data,omitempty"`
	} `json:"report,omitempty"`
	Error  string `json:"error,omitempty"`
	NoData bool   `json:"no_data,omitempty"`
}

// hostFacts is what the analysis takes from the bundle's system/ folder.
type hostFacts struct {
	state    HostState
	addrs    []netip.Addr
	zone     *time.Location
	findings []Finding
}

func readOutcome(data []byte) (*outcome, bool) {
	var o outcome
	if err := json.Unmarshal(data, &o); err != nil || o.Report == nil || o.NoData {
		return nil, false
	}
	return &o, true
}

// readableFS reports whether a mount's fill level matters: read-only images
// (squashfs snaps, ISO) and pseudo filesystems are always "full".
func readableFS(m collectors.Mount) bool {
	switch m.FSType {
	case "squashfs", "iso9660", "udf", "cramfs", "erofs", "proc", "sysfs", "devtmpfs", "nsfs", "overlay", "fuse.snapfuse":
		return false
	}
	return !slices.Contains(m.Options, "ro") && m.Total > 0
}

// parseHost reads the collectors' outcomes.
func parseHost(in *BundleInput) *hostFacts {
	if in == nil || len(in.System) == 0 {
		return nil
	}
	p := &hostParse{h: &hostFacts{}, seenMount: map[string]bool{}}
	names := make([]string, 0, len(in.System))
	for n := range in.System {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		if o, ok := readOutcome(in.System[name]); ok {
			p.read(name, o)
		}
	}
	h := p.h
	h.state.Checks = hostChecks(in.System, map[string]bool{
		"gateway":     h.state.Gateway != "" && h.state.Gateway != string(portsip.GatewayUp),
		"containers":  len(h.state.Containers) > 0,
		"disks":       len(p.diskCrit)+len(p.diskWarn) > 0,
		"blocked_ips": len(h.state.Blocked) > 0,
	})
	if f, ok := p.diskFinding(); ok {
		h.findings = append(h.findings, f)
	}
	return h
}

// hostParse is parseHost's state while it reads the snapshots in name
// order: the facts so far and the disk lines still to be judged together.
type hostParse struct {
	h                  *hostFacts
	diskCrit, diskWarn []string
	diskAdvice         string
	seenMount          map[string]bool
}

// read takes the facts from one collector's outcome; an outcome whose data
// does not decode adds nothing.
func (p *hostParse) read(name string, o *outcome) {
	data := o.Report.Data
	switch name {
	case "network":
		p.network(data)
	case "host":
		p.zone(data)
	case "mounts":
		p.mounts(data)
	case "disk":
		p.disk(data, o.Report.Advice)
	case "docker", "containers":
		p.containers(data)
	case "gateway":
		p.gateway(data, o.Report.Summary)
	case "blocked_ips":
		p.blocked(data)
	case "licence":
		p.licence(data)
	}
}

// licence states a licence in use to its limit, with the numbers the
// licence check read: the guide's 403 "the current usage exceeds the PBX
// licence" then has its evidence in the same report.
func (p *hostParse) licence(data json.RawMessage) {
	var ld collectors.LicenceData
	if json.Unmarshal(data, &ld) != nil || !ld.LicenceExceeded {
		return
	}
	var use []string
	if ld.MaxConcurrentCalls > 0 && ld.CurrentCalls >= ld.MaxConcurrentCalls {
		use = append(use, fmt.Sprintf("%d concurrent calls of %d licensed", ld.CurrentCalls, ld.MaxConcurrentCalls))
	}
	if ld.LicensedUsers > 0 && ld.CurrentUsers >= ld.LicensedUsers {
		use = append(use, fmt.Sprintf("%d users of %d licensed", ld.CurrentUsers, ld.LicensedUsers))
	}
	if len(use) == 0 {
		return
	}
	e, _ := guide.ForSituation(guide.LicenceExceeded)
	p.h.findings = append(p.h.findings, Finding{Severity: Critical, Code: "licence-exceeded",
		Title:  "The PBX is at its licence limit",
		Detail: "The licence check read " + strings.Join(use, " and ") + ". " + e.Meaning + " Calls refused with 403 by the PBX while at the limit are explained by it.",
		Remedy: append(append([]string(nil), e.Remedies...), e.NextCheck)})
}

// network keeps the host's interface addresses.
func (p *hostParse) network(data json.RawMessage) {
	var nd collectors.NetworkData
	if json.Unmarshal(data, &nd) != nil {
		return
	}
	for _, it := range nd.Interfaces {
		for _, s := range it.Addresses {
			if pr, err := netip.ParsePrefix(s); err == nil {
				p.h.addrs = append(p.h.addrs, pr.Addr().Unmap())
			} else if ip, err := netip.ParseAddr(s); err == nil {
				p.h.addrs = append(p.h.addrs, ip.Unmap())
			}
		}
	}
}

// zone keeps the host's UTC offset and time zone name.
func (p *hostParse) zone(data json.RawMessage) {
	var hd struct {
		UTCOffsetSeconds *int   `json:"utc_offset_seconds"`
		TimeZone         string `json:"timezone"`
	}
	if json.Unmarshal(data, &hd) == nil && hd.UTCOffsetSeconds != nil {
		p.h.zone = time.FixedZone(hd.TimeZone, *hd.UTCOffsetSeconds)
	}
}

// mounts keeps the mounts filled beyond the warning level.
func (p *hostParse) mounts(data json.RawMessage) {
	var md collectors.MountsData
	if json.Unmarshal(data, &md) != nil {
		return
	}
	for _, m := range md.Mounts {
		if !readableFS(m) || m.UsedPercent < diskWarnPercent || p.seenMount[m.Mountpoint] {
			continue
		}
		p.seenMount[m.Mountpoint] = true
		p.h.state.Disks = append(p.h.state.Disks, DiskUse{Mount: m.Mountpoint, UsedPercent: round1(m.UsedPercent), Free: int64(m.Free)})
		line := fmt.Sprintf("%s %.1f%% used, %s free", m.Mountpoint, m.UsedPercent, humanBytes(m.Free))
		if len(m.Holds) > 0 {
			line += " (holds " + strings.Join(m.Holds, ", ") + ")"
		}
		if m.UsedPercent >= diskFullPercent {
			p.diskCrit = append(p.diskCrit, line)
		} else {
			p.diskWarn = append(p.diskWarn, line)
		}
	}
}

// disk keeps the filesystems the disk check judged critical or warning,
// and its advice.
func (p *hostParse) disk(data json.RawMessage, advice string) {
	var dd collectors.DiskData
	if json.Unmarshal(data, &dd) != nil {
		return
	}
	if advice != "" {
		p.diskAdvice = advice
	}
	for _, fs := range dd.Filesystems {
		if fs.State != collectors.StateCritical && fs.State != collectors.StateWarning {
			continue
		}
		line := fmt.Sprintf("%s %.1f%% used, %s free (%s)", fs.Mountpoint, fs.UsedPercent, humanBytes(fs.Free), strings.Join(fs.Problems, "; "))
		if !p.seenMount[fs.Mountpoint] {
			p.seenMount[fs.Mountpoint] = true
			p.h.state.Disks = append(p.h.state.Disks, DiskUse{Mount: fs.Mountpoint, UsedPercent: round1(fs.UsedPercent), Free: int64(fs.Free)})
		}
		if fs.State == collectors.StateCritical {
			p.diskCrit = appendUnique(p.diskCrit, line)
		} else {
			p.diskWarn = appendUnique(p.diskWarn, line)
		}
	}
}

// containers keeps the PBX containers not running or unhealthy, and states
// them in one finding.
func (p *hostParse) containers(data json.RawMessage) {
	var dd collectors.DockerData
	if json.Unmarshal(data, &dd) != nil {
		return
	}
	var crit, warn []string
	for _, c := range dd.Containers {
		if c.Check == collectors.StateOK {
			continue
		}
		why := c.Problem
		if why == "" {
			why = c.State
		}
		line := fmt.Sprintf("%s: %s", c.Name, why)
		p.h.state.Containers = appendUnique(p.h.state.Containers, line)
		if c.Check == collectors.StateCritical {
			crit = append(crit, line)
		} else {
			warn = append(warn, line)
		}
	}
	if len(crit)+len(warn) == 0 {
		return
	}
	f := Finding{Severity: Warning, Code: "containers-down",
		Title:  fmt.Sprintf("%s of the PBX not running or unhealthy", plural(len(crit)+len(warn), "container")),
		Detail: strings.Join(append(crit, warn...), "; ") + ". A stopped portsip.callmanager or portsip.mediaserver fails calls and audio; a stopped portsip.gateway makes the web portal answer 502.",
		Remedy: []string{"Check and restart the containers: cd /opt/portsip && sh pbx_ctl.sh status, then sh pbx_ctl.sh restart -s <container>; a full disk stops them too."}}
	if len(crit) > 0 {
		f.Severity = Critical
	}
	p.h.findings = append(p.h.findings, f)
}

// gateway keeps the REST API gateway's state and states a failure with the
// troubleshooting guide's reading of it.
func (p *hostParse) gateway(data json.RawMessage, summary string) {
	var gd collectors.GatewayData
	if json.Unmarshal(data, &gd) != nil {
		return
	}
	p.h.state.Gateway = string(gd.State)
	switch gd.State {
	case portsip.GatewayUp, "":
	case portsip.GatewayServerError:
		p.h.findings = append(p.h.findings, Finding{Severity: Critical, Code: "gateway-500",
			Title:  "The REST API gateway answers 500: the web portal shows Unknown Error (500)",
			Detail: summary + ". The troubleshooting guide: this usually comes from insufficient disk space.",
			Remedy: []string{"Check the disk space; free space by deleting the archived *.gz logs in /var/lib/portsip/pbx/log (pbxagent logs prune), and increase the disk for a lasting fix."}})
	case portsip.GatewayDown:
		p.h.findings = append(p.h.findings, Finding{Severity: Critical, Code: "gateway-down",
			Title:  "The REST API gateway is down: the web portal shows Server error (502)",
			Detail: summary + ". The troubleshooting guide: the API gateway is down; insufficient disk space can also cause it.",
			Remedy: []string{"Check the disk space and the portsip.gateway container (sh pbx_ctl.sh status); if freeing disk space does not help, contact PortSIP support."}})
	default:
		p.h.findings = append(p.h.findings, Finding{Severity: Warning, Code: "gateway-error",
			Title:  "The REST API gateway check failed: " + string(gd.State),
			Detail: summary})
	}
}

// blocked keeps the blocked addresses and states an administrator's
// address among them.
func (p *hostParse) blocked(data json.RawMessage) {
	var bd collectors.BlockedIPsData
	if json.Unmarshal(data, &bd) != nil {
		return
	}
	for _, e := range bd.Denied {
		p.h.state.Blocked = appendUnique(p.h.state.Blocked, e.CIDR)
	}
	if len(bd.AdminBlocked) == 0 {
		return
	}
	var cidrs []string
	for _, e := range bd.AdminBlocked {
		cidrs = append(cidrs, fmt.Sprintf("%s (%s)", e.CIDR, e.Admin))
	}
	p.h.findings = append(p.h.findings, Finding{Severity: Critical, Code: "admin-blocked",
		Title:  "An administrators' address is in the PBX's IP Blacklist",
		Detail: "Blocked: " + strings.Join(cidrs, ", ") + ". The web portal shows \"the client IP address has been blocked (DENIED)\" after too many wrong passwords.",
		Remedy: []string{"Sign in from another address with the correct credentials and remove the entry from the IP Blacklist."}})
}

// diskFinding states the full or nearly full disks found by the mounts and
// disk snapshots together.
func (p *hostParse) diskFinding() (Finding, bool) {
	if len(p.diskCrit) > 0 {
		f := Finding{Severity: Critical, Code: "disk-full",
			Title:  "Disk full: " + p.diskCrit[0],
			Detail: strings.Join(p.diskCrit, "; ") + ". The troubleshooting guide: insufficient disk space makes the web portal fail with Unknown Error (500) or Server error (502), and calls fail.",
			Remedy: []string{"Free space now by deleting the archived *.gz logs in /var/lib/portsip/pbx/log (preview with pbxagent logs prune --dry-run).", "For a lasting fix, increase the disk; enable PortSIP's email notifications for disk usage."}}
		if p.diskAdvice != "" {
			f.Remedy = append(f.Remedy, p.diskAdvice)
		}
		return f, true
	}
	if len(p.diskWarn) > 0 {
		return Finding{Severity: Warning, Code: "disk-space",
			Title:  "Disk space low: " + p.diskWarn[0],
			Detail: strings.Join(p.diskWarn, "; ") + ". A full disk makes the web portal fail (500/502) and calls fail.",
			Remedy: []string{"Free space by deleting archived *.gz logs in /var/lib/portsip/pbx/log (pbxagent logs prune --dry-run), or increase the disk."}}, true
	}
	return Finding{}, false
}

// blockedPeerFindings reports peers of the capture that are in the IP
// Blacklist.
func blockedPeerFindings(blocked []string, r *roles) []Finding {
	var prefixes []netip.Prefix
	for _, b := range blocked {
		if p, err := netip.ParsePrefix(b); err == nil {
			prefixes = append(prefixes, p.Masked())
		} else if ip, err := netip.ParseAddr(b); err == nil {
			prefixes = append(prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
		}
	}
	var hits []string
	for _, k := range r.order {
		p := r.peers[k]
		ip, err := netip.ParseAddr(k)
		if err != nil {
			ap, err := netip.ParseAddrPort(k)
			if err != nil {
				continue
			}
			ip = ap.Addr()
		}
		for _, pr := range prefixes {
			if pr.Contains(ip.Unmap()) {
				hits = append(hits, fmt.Sprintf("%s (%s)", k, p.Role))
				break
			}
		}
	}
	if len(hits) == 0 {
		return nil
	}
	return []Finding{{Severity: Critical, Code: "peer-blocked",
		Title:  "SIP peers of this capture are in the PBX's IP Blacklist: " + strings.Join(firstN(hits, 5), ", "),
		Detail: "The PBX drops SIP from blocked addresses; 50 failed SIP authentications within 10 seconds block an address for an hour.",
		Remedy: []string{"Fix the peer's credentials, then remove the address from the IP Blacklist."}}}
}

// timeZone is the zone of the PBX host's log times: the host's UTC offset
// from system/host.json, else UTC.
func timeZone(h *hostFacts) *time.Location {
	if h != nil && h.zone != nil {
		return h.zone
	}
	return time.UTC
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Log scanning.

// logErrorRE matches lines that report an error: the words error, fail,
// fatal, critical, panic, or a level field with such a value.
var logErrorRE = regexp.MustCompile(`(?i)\b(error|errors|err|fail|failed|failure|fatal|critical|crit|panic|emerg)\b|level["']?\s*[=:]\s*["']?(error|err|fatal|crit|critical)`)

// logTimeRE finds a timestamp at the start of a line: "2026-11-27
// 10:00:00.123", ISO 8601 with T and a zone, optionally in brackets.
var logTimeRE = regexp.MustCompile(`^\s*\[?(\d{4}[-/]\d{2}[-/]\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?\s?(Z|[+-]\d{2}:?\d{2})?`)

// maxLogLine bounds one log line kept in memory.
const maxLogLine = 4096

type logHit struct {
	LogLine
	timed bool
}

// logScan is the error lines of the logs before windowing.
type logScan struct {
	hits     []logHit
	timed    map[string]bool // files with at least one timed line
	dropped  int64
	failures []string
}

func newLogScan() *logScan { return &logScan{timed: map[string]bool{}} }

// parseLogTime reads the timestamp at the start of line; lines without a
// zone are in loc.
func parseLogTime(line string, loc *time.Location) (time.Time, bool) {
	m := logTimeRE.FindStringSubmatch(line)
	if m == nil {
		return time.Time{}, false
	}
	s := strings.ReplaceAll(m[1], "/", "-") + " " + m[2]
	if m[3] != "" {
		s += "." + m[3]
	}
	layout := "2006-01-02 15:04:05.999999999"
	if z := m[4]; z != "" {
		if z != "Z" && !strings.Contains(z, ":") {
			z = z[:3] + ":" + z[3:]
		}
		t, err := time.Parse(layout+"Z07:00", s+z)
		return t, err == nil
	}
	t, err := time.ParseInLocation(layout, s, loc)
	return t, err == nil
}

// scan reads one log and keeps its error lines.
func (ls *logScan) scan(name string, r io.Reader, loc *time.Location) error {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	for {
		line, err := readLine(br)
		if len(line) > 0 || err == nil {
			n++
			t, timed := parseLogTime(line, loc)
			if timed {
				ls.timed[name] = true
			}
			if logErrorRE.MatchString(line) {
				if len(ls.hits) < maxLogHits {
					ls.hits = append(ls.hits, logHit{LogLine: LogLine{File: name, Line: n, Time: t, Text: line}, timed: timed})
				} else {
					ls.dropped++
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine reads one line without its end, cut to maxLogLine bytes.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(b) < maxLogLine {
			b = append(b, chunk[:min(len(chunk), maxLogLine-len(b))]...)
		}
		if err != nil {
			return string(b), err
		}
		if !isPrefix {
			return strings.TrimRight(string(b), "\r"), nil
		}
	}
}

// window keeps the error lines within w of the given times; lines without a
// time count only in files that have no timed line at all.
func (ls *logScan) window(times [][2]time.Time, w time.Duration) []LogLine {
	if len(times) == 0 {
		return nil
	}
	var out []LogLine
	seen := map[string]bool{}
	for _, h := range ls.hits {
		ok := false
		if h.timed {
			for _, t := range times {
				if !h.Time.Before(t[0].Add(-w)) && !h.Time.After(t[1].Add(w)) {
					ok = true
					break
				}
			}
		} else {
			ok = !ls.timed[h.File]
		}
		if !ok {
			continue
		}
		// callmanager.log and its live-window copy hold the same lines.
		k := h.Time.String() + "\x00" + h.Text
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, h.LogLine)
		if len(out) >= maxLogLines {
			break
		}
	}
	return out
}
