package collectors

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/platform/linux"
	"github.com/pbxagent/pbxagent/portsip"
)

// PBXPaths are the configured PortSIP folders that remedies name, so that
// a PBX installed elsewhere is told its own paths; empty fields mean the
// stock Linux ones.
type PBXPaths struct {
	// InstallDir holds pbx_ctl.sh (pbx.install_dir, /opt/portsip).
	InstallDir string
	// LogDir is the PBX log folder (pbx.log_dir).
	LogDir string
}

// ctl is the pbx_ctl.sh command line for verb ("status", "restart").
func (p PBXPaths) ctl(verb string) string {
	dir := p.InstallDir
	if dir == "" {
		dir = linux.PBXInstallDir
	}
	return "cd " + dir + " && sh pbx_ctl.sh " + verb
}

func (p PBXPaths) logDir() string {
	if p.LogDir == "" {
		return linux.PBXDataDir + "/log"
	}
	return p.LogDir
}

// Advice for a gateway that is down, from section 5 of PortSIP's
// troubleshooting guide, with the configured paths.
func (p PBXPaths) gatewayDownAdvice() string {
	return "PortSIP's troubleshooting guide: a 502 means the PBX API gateway is down, and a full disk can cause it too. " +
		"Check the disk (pbxagent status), free space by deleting archived *.gz logs in " + p.logDir() + " " +
		"(pbxagent logs prune --dry-run), then restart the PBX: " + p.ctl("restart") + " " +
		"(Windows: restart the \"PortSIP Gateway Server\" service). If that does not help, contact PortSIP support (support@portsip.com)."
}

func (p PBXPaths) diskFullAdvice() string {
	return "PortSIP's troubleshooting guide: a 500 (\"Unknown Error\") usually means the server is out of disk space. " +
		"Check the disk (pbxagent status); free space by deleting archived *.gz logs in " + p.logDir() + " " +
		"(pbxagent logs prune --dry-run); for a lasting fix, enlarge the disk. If the disk is fine, restart the PBX " +
		"(" + p.ctl("restart") + ") and contact PortSIP support if it persists."
}

func (p PBXPaths) notListeningAdvice() string {
	return "Nothing answers on the REST API port. Check that the PBX runs (" + p.ctl("status") + "; " +
		"Windows: the \"PortSIP Gateway Server\" service) and restart it (" + p.ctl("restart") + "); check the disk, " +
		"since a full disk stops the gateway. If api.url points to the wrong port, fix it (the portal and API listen on 8887)."
}

const (
	tlsAdvice = "The TLS handshake with the REST API failed. A stock PBX uses a self-signed certificate: set api.insecure_skip_verify: true, " +
		"or install a certificate this host trusts for the name in api.url."
	configAdvice = "Check api.url (default https://127.0.0.1:8887/api): the host name must resolve and the path must end in /api."
)

// Gateway probes the PortSIP REST API gateway with GET <api.url>/info, which
// needs no login, and classifies failures the way PortSIP's troubleshooting
// guide does (500 = likely disk full, 502 = gateway down).
type Gateway struct {
	client    *portsip.Client
	diskState func() (State, string)
	// Paths are named in the remedies.
	Paths PBXPaths
}

// NewGateway returns the gateway check. The probe is bounded by the client's
// timeout (portsip.WithTimeout, from checks.gateway.timeout). diskState
// returns the disk check's latest state and summary, to tell whether a 500
// comes from a full disk; nil means unknown. A nil client makes the check
// report ErrNoData.
func NewGateway(client *portsip.Client, diskState func() (State, string)) *Gateway {
	return &Gateway{client: client, diskState: diskState}
}

// GatewayData is the gateway check's Data.
type GatewayData struct {
	portsip.InfoResult
	// DiskState and DiskSummary are the disk check's verdict when the API
	// answered 500.
	DiskState   *State `json:"disk_state,omitempty"`
	DiskSummary string `json:"disk_summary,omitempty"`
}

// Collect probes the gateway once.
func (g *Gateway) Collect(ctx context.Context) (*Report, error) {
	if g.client == nil {
		return nil, noData("api.url not configured")
	}
	res, err := g.client.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("probe the REST API gateway: %w", err)
	}
	d := GatewayData{InfoResult: *res}
	rep := &Report{}
	if res.State == portsip.GatewayServerError {
		rep.State, rep.Summary, rep.Advice = StateCritical, g.serverErrorSummary(&d), g.Paths.diskFullAdvice()
	} else {
		o, ok := gatewayOutcomes[res.State]
		if !ok {
			o = gatewayOtherOutcome // portsip.GatewayHTTPError and anything new
		}
		rep.State, rep.Summary = o.state, o.summary(g, res)
		if o.advice != nil {
			rep.Advice = o.advice(g.Paths)
		}
	}
	rep.Data = d
	rep.Summary = apiOneLine(rep.Summary)
	up := 0.0
	if res.State == portsip.GatewayUp {
		up = 1
	}
	rep.Metrics = []Metric{
		{Name: "gateway_up", Value: up},
		{Name: "gateway_response_seconds", Value: res.Duration.Seconds(), Unit: "s"},
	}
	if res.StatusCode != 0 {
		rep.Metrics = append(rep.Metrics, Metric{Name: "gateway_http_status", Value: float64(res.StatusCode)})
	}
	rep.Text = gatewayText(d)
	return rep, nil
}

// gatewayOutcome is the check's verdict on one probe result state.
type gatewayOutcome struct {
	state   State
	summary func(g *Gateway, res *portsip.InfoResult) string
	advice  func(PBXPaths) string // nil: none
}

func constAdvice(s string) func(PBXPaths) string { return func(PBXPaths) string { return s } }

// gatewayOutcomes are the verdicts by probe state; a 500 is judged with
// the disk check (serverErrorSummary).
var gatewayOutcomes = map[portsip.GatewayState]gatewayOutcome{
	portsip.GatewayUp: {StateOK, func(_ *Gateway, res *portsip.InfoResult) string {
		v := ""
		if res.Version != "" {
			v = " (version " + res.Version + ")"
		}
		return fmt.Sprintf("REST API gateway up%s, answered in %s", v, apiMillis(res.Duration))
	}, nil},
	portsip.GatewayDown: {StateCritical, func(_ *Gateway, res *portsip.InfoResult) string {
		return fmt.Sprintf("REST API gateway down: %s answered HTTP %d", res.URL, res.StatusCode)
	}, PBXPaths.gatewayDownAdvice},
	portsip.GatewayRefused: {StateCritical, func(_ *Gateway, res *portsip.InfoResult) string {
		return fmt.Sprintf("REST API gateway not listening: connection to %s refused", res.URL)
	}, PBXPaths.notListeningAdvice},
	portsip.GatewayTimeout: {StateCritical, func(g *Gateway, res *portsip.InfoResult) string {
		return fmt.Sprintf("REST API gateway did not answer within %s (%s)", g.client.Timeout(), res.URL)
	}, PBXPaths.gatewayDownAdvice},
	portsip.GatewayUnreachable: {StateCritical, func(_ *Gateway, res *portsip.InfoResult) string {
		return fmt.Sprintf("REST API gateway unreachable at %s: %s", res.URL, res.Detail)
	}, PBXPaths.notListeningAdvice},
	portsip.GatewayTLSError: {StateWarning, func(_ *Gateway, res *portsip.InfoResult) string {
		return fmt.Sprintf("TLS handshake with the REST API at %s failed: %s", res.URL, res.Detail)
	}, constAdvice(tlsAdvice)},
	portsip.GatewayDNSError: {StateWarning, func(_ *Gateway, res *portsip.InfoResult) string {
		return fmt.Sprintf("cannot resolve the REST API host of %s: %s", res.URL, res.Detail)
	}, constAdvice(configAdvice)},
}

var gatewayOtherOutcome = gatewayOutcome{StateWarning, func(_ *Gateway, res *portsip.InfoResult) string {
	return fmt.Sprintf("REST API answered HTTP %d at %s", res.StatusCode, res.URL)
}, constAdvice(configAdvice)}

// serverErrorSummary reads the disk check's verdict into d: PortSIP's guide
// says a 500 usually means a full disk.
func (g *Gateway) serverErrorSummary(d *GatewayData) string {
	ds, dsum := StateUnknown, ""
	if g.diskState != nil {
		ds, dsum = g.diskState()
	}
	d.DiskState, d.DiskSummary = &ds, dsum
	var disk string
	switch {
	case ds == StateOK:
		disk = "500 usually means a full disk but the disk check is OK"
	case dsum == "":
		disk = "500 usually means a full disk; the disk check has no result yet"
	default:
		disk = "the disk check says: " + dsum
	}
	return fmt.Sprintf("REST API answered HTTP 500 at %s; %s", d.URL, disk)
}

// gatewayText renders the probe for the bundle summary.
func gatewayText(d GatewayData) string {
	var b strings.Builder
	fmt.Fprintf(&b, "URL:      %s\n", d.URL)
	fmt.Fprintf(&b, "State:    %s\n", d.State)
	if d.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP:     %d\n", d.StatusCode)
	}
	fmt.Fprintf(&b, "Duration: %s\n", apiMillis(d.Duration))
	if d.Version != "" {
		fmt.Fprintf(&b, "Version:  %s\n", d.Version)
	}
	if d.Detail != "" {
		fmt.Fprintf(&b, "Detail:   %s\n", d.Detail)
	}
	if d.DiskState != nil {
		fmt.Fprintf(&b, "Disk:     %s %s\n", d.DiskState, d.DiskSummary)
	}
	return b.String()
}

// apiMillis renders a short duration in milliseconds ("42 ms").
func apiMillis(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

// apiOneLine folds s onto one line.
func apiOneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
