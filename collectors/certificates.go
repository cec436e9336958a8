package collectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/portsip"
)

// certPortNames names the PBX's TLS ports in messages.
var certPortNames = map[int]string{8887: "web portal/API", 5061: "SIP TLS", 5065: "WSS", 10443: "WebRTC"}

// Certificates reads the certificate chains the PBX serves on its TLS ports
// by a handshake (no API needed): days to expiry, a name that does not match
// the configured domain, and a chain that validated before and no longer
// does. A stock PBX serves a self-signed certificate, so "not trusted" alone
// is reported, not alerted.
type Certificates struct {
	cfg   config.CertificatesCheck
	roots *x509.CertPool // nil: the system roots
	now   func() time.Time

	mu    sync.Mutex
	valid map[int]bool // ports whose chain validated at some check
}

// NewCertificates returns the certificate check. roots nil verifies against
// the system roots; now nil is time.Now.
func NewCertificates(cfg config.CertificatesCheck, roots *x509.CertPool, now func() time.Time) *Certificates {
	if now == nil {
		now = time.Now
	}
	return &Certificates{cfg: cfg, roots: roots, now: now, valid: map[int]bool{}}
}

// CertState is what one port serves.
type CertState struct {
	Port      int       `json:"port"`
	Service   string    `json:"service,omitempty"`
	State     State     `json:"state"`
	Listening bool      `json:"listening"`
	Subject   string    `json:"subject,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	DNSNames  []string  `json:"dns_names,omitempty"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	DaysLeft  int       `json:"days_left"`
	// Trusted: the chain validates against the roots; NameMatch: the
	// certificate names ServerName (not checked without one).
	Trusted   bool   `json:"trusted"`
	NameMatch *bool  `json:"name_match,omitempty"`
	Problem   string `json:"problem,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Collect handshakes with every configured port.
func (c *Certificates) Collect(ctx context.Context) (*Report, error) {
	if len(c.cfg.Ports) == 0 {
		return nil, noData("no ports configured (checks.certificates.ports)")
	}
	states := make([]CertState, len(c.cfg.Ports))
	var wg sync.WaitGroup
	for i, p := range c.cfg.Ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			states[i] = c.check(ctx, p)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("certificate check: %w", ctx.Err())
	}
	rep := &Report{State: StateOK, Data: states}
	var problems, fine []string
	listening := 0
	for _, s := range states {
		rep.Items = append(rep.Items, certItem(s))
		if !s.Listening {
			continue
		}
		listening++
		rep.State = max(rep.State, s.State)
		label := map[string]string{"port": strconv.Itoa(s.Port)}
		if !s.NotAfter.IsZero() {
			rep.Metrics = append(rep.Metrics, Metric{Name: "certificate_expiry_timestamp_seconds", Value: float64(s.NotAfter.Unix()), Unit: "s", Label: label})
		}
		if s.Problem != "" && s.State > StateOK {
			problems = append(problems, fmt.Sprintf("%d (%s): %s", s.Port, s.Service, s.Problem))
		} else {
			fine = append(fine, fmt.Sprintf("%d: %d days", s.Port, s.DaysLeft))
		}
	}
	if listening == 0 {
		return nil, noData("no TLS listener on %s ports %v", c.cfg.Host, c.cfg.Ports)
	}
	if len(problems) > 0 {
		rep.Summary = strings.Join(problems, "; ")
		rep.Advice = "Renew the certificate in the web portal (Settings > Certificates / the domain's TLS certificate) or with your ACME client, " +
			"make sure it names the PBX's domain (checks.certificates.server_name) and includes the intermediate certificates, then restart the PBX services " +
			"(cd /opt/portsip && sh pbx_ctl.sh restart). Phones and browsers refuse an expired or mismatched certificate: TLS and WSS registrations fail."
	} else {
		rep.Summary = "certificates valid: " + strings.Join(fine, ", ")
	}
	rep.Text = certText(states)
	return rep, nil
}

// check handshakes with one port and rates what it serves.
func (c *Certificates) check(ctx context.Context, port int) CertState {
	s := CertState{Port: port, Service: certPortNames[port], State: StateOK}
	if s.Service == "" {
		s.Service = "TLS"
	}
	addr := net.JoinHostPort(c.cfg.Host, strconv.Itoa(port))
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{
		ServerName:         c.cfg.ServerName,
		InsecureSkipVerify: true, // verified below, to tell the reasons apart
		MinVersion:         tls.VersionTLS10,
	}}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		if portsip.ClassifyError(err) == portsip.GatewayRefused {
			s.Error = "nothing listens"
			return s
		}
		s.Listening, s.State = true, StateWarning
		s.Error = err.Error()
		s.Problem = "TLS handshake failed: " + err.Error()
		return s
	}
	defer conn.Close()
	s.Listening = true
	chain := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(chain) == 0 {
		s.State, s.Problem = StateWarning, "no certificate served"
		return s
	}
	c.judge(&s, chain)
	return s
}

// judge sets s from the served chain: expiry, name and trust.
func (c *Certificates) judge(s *CertState, chain []*x509.Certificate) {
	leaf := chain[0]
	s.Subject, s.Issuer, s.DNSNames, s.NotAfter = leaf.Subject.CommonName, leaf.Issuer.CommonName, leaf.DNSNames, leaf.NotAfter
	now := c.now()
	left := leaf.NotAfter.Sub(now)
	s.DaysLeft = int(math.Floor(left.Hours() / 24))
	var problems []string
	if p := c.expiry(s, left); p != "" {
		problems = append(problems, p)
	}
	if c.cfg.ServerName != "" {
		ok := leaf.VerifyHostname(c.cfg.ServerName) == nil
		s.NameMatch = &ok
		if !ok {
			s.State = max(s.State, StateWarning)
			problems = append(problems, fmt.Sprintf("certificate is for %s, not %s", certNames(leaf), c.cfg.ServerName))
		}
	}
	if p := c.trust(s, chain, now, left); p != "" {
		problems = append(problems, p)
	}
	s.Problem = strings.Join(problems, "; ")
}

// expiry sets s's state from the time left and returns the problem, if any.
func (c *Certificates) expiry(s *CertState, left time.Duration) string {
	date := s.NotAfter.UTC().Format(time.DateOnly)
	switch {
	case left <= 0:
		s.State = StateCritical
		return fmt.Sprintf("certificate EXPIRED %s (%d days ago)", date, -s.DaysLeft)
	case left <= c.cfg.Critical.D():
		s.State = StateCritical
		return fmt.Sprintf("certificate expires in %d %s (%s)", s.DaysLeft, ipPlural(s.DaysLeft, "day", "days"), date)
	case left <= c.cfg.Warning.D():
		s.State = StateWarning
		return fmt.Sprintf("certificate expires in %d days (%s)", s.DaysLeft, date)
	}
	return ""
}

// trust verifies the chain against the system roots. A chain that validated
// before and no longer does is a problem; one that never did (self-signed or
// private CA, as PortSIP ships) is only noted.
func (c *Certificates) trust(s *CertState, chain []*x509.Certificate, now time.Time, left time.Duration) string {
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	_, verr := chain[0].Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, CurrentTime: now})
	s.Trusted = verr == nil
	c.mu.Lock()
	wasValid := c.valid[s.Port]
	if s.Trusted {
		c.valid[s.Port] = true
	}
	c.mu.Unlock()
	if s.Trusted || left <= 0 {
		return ""
	}
	if wasValid {
		s.State = max(s.State, StateWarning)
		return "certificate chain no longer validates: " + verr.Error()
	}
	s.Error = "not trusted (self-signed or private CA): " + verr.Error()
	return ""
}

// certItem is one port for the alerts, in its own words: "valid for 40
// days", "certificate expires in 5 days", "not listening".
func certItem(s CertState) Item {
	it := Item{ID: strconv.Itoa(s.Port), Label: fmt.Sprintf("Certificate on port %d (%s)", s.Port, s.Service), State: s.State}
	switch {
	case !s.Listening:
		it.State, it.Status = StateOK, "not listening"
	case s.Problem != "" && s.State > StateOK:
		it.Status = s.Problem
	default:
		it.Status = fmt.Sprintf("valid, %d days left", s.DaysLeft)
	}
	it.Summary = fmt.Sprintf("port %d (%s): %s", s.Port, s.Service, it.Status)
	return it
}

// certNames lists the names a certificate is for.
func certNames(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return strings.Join(c.DNSNames, ", ")
	}
	return c.Subject.CommonName
}

func certText(states []CertState) string {
	rows := [][]string{{"PORT", "SERVICE", "STATE", "EXPIRES", "DAYS", "SUBJECT", "NOTE"}}
	for _, s := range states {
		if !s.Listening {
			rows = append(rows, []string{strconv.Itoa(s.Port), s.Service, "-", "", "", "", s.Error})
			continue
		}
		note := s.Problem
		if note == "" {
			note = s.Error
		}
		exp := ""
		if !s.NotAfter.IsZero() {
			exp = s.NotAfter.UTC().Format(time.DateOnly)
		}
		rows = append(rows, []string{strconv.Itoa(s.Port), s.Service, s.State.String(), exp, strconv.Itoa(s.DaysLeft), s.Subject, truncate(note, 120)})
	}
	return textTable(rows)
}
