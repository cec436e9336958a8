package collectors

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, now time.Time) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: now.Add(-365 * 24 * time.Hour), NotAfter: now.Add(3650 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

// leaf issues a certificate for host valid until notAfter.
func (ca *testCA) leaf(t *testing.T, host string, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: notAfter.Add(-400 * 24 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer serves the certificate in cert on loopback and returns its port.
func tlsServer(t *testing.T, cert *atomic.Pointer[tls.Certificate]) int {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return cert.Load(), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestCertificates(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, now)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	const host = "pbx.example.com"
	day := 24 * time.Hour
	cases := []struct {
		name  string
		host  string
		left  time.Duration
		state State
		text  string
	}{
		{"40 days", host, 40*day + time.Hour, StateOK, ""},
		{"20 days", host, 20*day + time.Hour, StateWarning, "certificate expires in 20 days"},
		{"3 days", host, 3*day + time.Hour, StateCritical, "certificate expires in 3 days"},
		{"expired", host, -2*day + time.Hour, StateCritical, "certificate EXPIRED"},
		{"other host", "other.example.org", 40*day + time.Hour, StateWarning, "certificate is for other.example.org, not pbx.example.com"},
	}
	var ports []int
	certs := make([]*atomic.Pointer[tls.Certificate], len(cases))
	for i, c := range cases {
		certs[i] = &atomic.Pointer[tls.Certificate]{}
		leaf := ca.leaf(t, c.host, now.Add(c.left))
		certs[i].Store(&leaf)
		ports = append(ports, tlsServer(t, certs[i]))
	}
	// A closed port: nothing listens (WSS disabled, say).
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := config.Default().Checks.Certificates
	cfg.Ports, cfg.ServerName = append(ports, closed), host
	cc := NewCertificates(cfg, pool, nil)
	rep := collectReport(t, cc)
	if rep.State != StateCritical {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	states := rep.Data.([]CertState)
	for i, c := range cases {
		s := states[i]
		if s.State != c.state || !strings.Contains(s.Problem+" "+rep.Summary, c.text) {
			t.Errorf("%s: %v %q", c.name, s.State, s.Problem)
		}
	}
	if states[0].DaysLeft != 40 || states[1].DaysLeft != 20 || states[2].DaysLeft != 3 {
		t.Errorf("days left: %d %d %d", states[0].DaysLeft, states[1].DaysLeft, states[2].DaysLeft)
	}
	// One alert item per port, its status in the mail's words.
	if len(rep.Items) != len(states) {
		t.Fatalf("%d items for %d ports", len(rep.Items), len(states))
	}
	for i, c := range cases {
		it := rep.Items[i]
		if it.ID != strconv.Itoa(ports[i]) || it.State != c.state || !strings.Contains(it.Status, c.text) || !strings.HasPrefix(it.Label, "Certificate on port ") {
			t.Errorf("%s: item %+v", c.name, it)
		}
	}
	if it := rep.Items[0]; it.Status != "valid, 40 days left" {
		t.Errorf("40 days: status %q", it.Status)
	}
	if it := rep.Items[len(states)-1]; it.State != StateOK || it.Status != "not listening" {
		t.Errorf("closed port: item %+v", it)
	}
	if last := states[len(states)-1]; last.Listening || last.Error != "nothing listens" {
		t.Errorf("closed port: %+v", last)
	}
	if !strings.Contains(rep.Summary, "expires in 3 days") || !strings.Contains(rep.Text, "pbx.example.com") {
		t.Errorf("summary %q\ntext %s", rep.Summary, rep.Text)
	}

	// The chain validated; now the PBX serves one from an unknown CA.
	other := newTestCA(t, now)
	cfg.Ports = ports[:1]
	cc = NewCertificates(cfg, pool, nil)
	if rep := collectReport(t, cc); rep.State != StateOK || !strings.Contains(rep.Summary, "40 days") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	leaf := other.leaf(t, host, now.Add(40*day+time.Hour))
	certs[0].Store(&leaf)
	if rep := collectReport(t, cc); rep.State != StateWarning || !strings.Contains(rep.Summary, "no longer validates") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	// A self-signed certificate that never validated is noted, not alerted.
	cc = NewCertificates(cfg, pool, nil)
	if rep := collectReport(t, cc); rep.State != StateOK || !strings.Contains(rep.Text, "not trusted") {
		t.Fatalf("%v %q\n%s", rep.State, rep.Summary, rep.Text)
	}
	// Nothing listening anywhere: not applicable.
	cfg.Ports = []int{closed}
	if _, err := NewCertificates(cfg, pool, nil).Collect(t.Context()); err == nil || !strings.Contains(err.Error(), "no TLS listener") {
		t.Fatalf("err = %v", err)
	}
}
