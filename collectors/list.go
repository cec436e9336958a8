package collectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/portsip"
)

// Tag says where a check runs. A check can carry both tags.
type Tag uint8

const (
	// TagSnapshot marks a check of the host snapshot: it runs when a
	// support bundle is built and reports facts, normally StateOK.
	TagSnapshot Tag = 1 << iota
	// TagWatch marks a watcher: it runs every round of `pbxagent run`, in
	// `pbxagent status`, feeds the alert rules and the metrics, and its
	// report is also written to bundles.
	TagWatch
)

// Env is what the checks are built from.
type Env struct {
	Config *config.Config
	// Sanitize removes secrets from process command lines (nil keeps them).
	Sanitize func([]string) []string
	// Log receives the REST API client's diagnostics; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// GOOS selects the platform's checks; empty means runtime.GOOS.
	GOOS string
	// API, when set, is the REST API client the API checks use: the
	// service passes its own, so that a bundle it takes shares the
	// service's token instead of logging in again. Nil builds one.
	API *portsip.Client
}

// NewAPIClient returns the REST API client the configuration describes,
// with the gateway check's timeout; it makes no request.
func NewAPIClient(c *config.Config, log *slog.Logger) (*portsip.Client, error) {
	return portsip.NewClient(c.API.URL, c.API.Username, c.API.Password, c.API.InsecureSkipVerify,
		c.Agent.StateDir, portsip.WithTimeout(c.Checks.Gateway.Timeout.D()), portsip.WithLogger(log))
}

// Builder builds the checks of one list. Besides the configuration it holds
// the checks built so far, so a check can refer to an earlier one (the
// gateway asks the disk check's latest verdict), and the REST API client,
// built once and shared.
type Builder struct {
	Env
	built  map[string]*Cached
	api    *portsip.Client
	apiErr error
	once   sync.Once
}

// Spec is one entry of the list of checks.
type Spec struct {
	// Name is the stable name: file names in bundles, metric labels,
	// alert keys. Never rename one lightly.
	Name string
	Tags Tag
	// Build returns the collector, or nil when the configuration or the
	// platform turns the check off.
	Build func(b *Builder) Collector
}

// specs is the one list of checks, in the order they are reported.
//
// To add a check: write it in its own file (a type with
// Collect(ctx) (*Report, error) and a New... constructor), then add one line
// here with its name, tags and how to build it from the configuration.
func specs() []Spec {
	return []Spec{
		{"host", TagSnapshot, func(*Builder) Collector { return NewHost() }},
		{"cpu", TagSnapshot, func(*Builder) Collector { return NewCPU() }},
		{"memory", TagSnapshot, func(*Builder) Collector { return NewMemory() }},
		{"mounts", TagSnapshot, func(b *Builder) Collector {
			c := b.Config
			return NewMounts(c.PBX.DataDir, c.LogDir(), c.Agent.StateDir)
		}},
		{"network", TagSnapshot, func(*Builder) Collector { return NewNetwork() }},
		{"sockets", TagSnapshot, func(b *Builder) Collector {
			p := b.Config.PBX
			return NewSockets(p.SIPPorts, p.WebPorts, p.RTPRange)
		}},
		{"processes", TagSnapshot, func(b *Builder) Collector { return NewProcesses(b.Sanitize) }},
		{"pbx", TagSnapshot, func(b *Builder) Collector { return NewPBX(b.Config.PBX.DataDir, b.Config.LogDir()) }},

		{"disk", TagWatch, func(b *Builder) Collector { return NewDisk(b.Config.Checks.Disk, diskPaths(b.Config), b.Now) }},
		{"logs", TagWatch, func(b *Builder) Collector {
			lc := NewLogCheck(b.Config.Checks.Logs, b.Config.LogDir(), b.Now)
			lc.Paths = pbxPaths(b.Config)
			return lc
		}},
		{"gateway", TagWatch, func(b *Builder) Collector {
			return b.apiCheck(b.Config.Checks.Gateway.Enabled, func(api *portsip.Client) Collector {
				gw := NewGateway(api, b.StateOf("disk"))
				gw.Paths = pbxPaths(b.Config)
				return gw
			})
		}},
		{"blocked_ips", TagWatch, func(b *Builder) Collector {
			return b.apiCheck(b.Config.Checks.BlockedIPs.Enabled, func(api *portsip.Client) Collector {
				return NewBlockedIPs(api, adminNetworks(b.Config), b.Now)
			})
		}},
		{"trunks", TagWatch, func(b *Builder) Collector {
			ck := b.Config.Checks.Trunks
			return b.apiCheck(ck.Enabled, func(api *portsip.Client) Collector { return NewTrunks(api, ck.MaxStatusPerRound) })
		}},
		{"licence", TagWatch, func(b *Builder) Collector {
			ck := b.Config.Checks.Licence
			return b.apiCheck(ck.Enabled, func(api *portsip.Client) Collector { return NewLicence(api, ck, b.Now) })
		}},
		{"certificates", TagWatch, func(b *Builder) Collector {
			if ck := b.Config.Checks.Certificates; ck.Enabled {
				return NeedsPBX{DataDir: b.Config.PBX.DataDir, C: NewCertificates(ck, nil, b.Now)}
			}
			return nil
		}},
		{"media", TagWatch, func(b *Builder) Collector {
			ck := b.Config.Checks.Media
			return b.apiCheck(ck.Enabled, func(api *portsip.Client) Collector { return NewMedia(api, ck) })
		}},
		{"call_failures", TagWatch, func(b *Builder) Collector {
			ck := b.Config.Checks.CallFailures
			return b.apiCheck(ck.Enabled, func(api *portsip.Client) Collector {
				return NewCallFailures(api, ck, b.Config.Agent.StateDir, nil, b.Now).WithLicence(b.StateOf("licence"))
			})
		}},
		{"services", TagWatch, func(b *Builder) Collector {
			if !b.Config.Checks.Services.Enabled || b.GOOS != "windows" {
				return nil
			}
			return NewWindowsServices()
		}},
		{"containers", TagWatch, func(b *Builder) Collector {
			if !b.Config.Checks.Services.Enabled || b.GOOS == "windows" {
				return nil
			}
			return NewDocker(b.Config.PBX.DockerSocket)
		}},
	}
}

// Build returns the checks carrying any of tags, in list order. Every check
// is wrapped in a Cached, so its latest report can be read (Last) and the
// collector itself found again (Unwrap). Call Build once per agent: the
// watchers keep state between rounds (forecast samples, IPs seen).
func Build(env Env, tags Tag) []Named {
	b := &Builder{Env: env, built: map[string]*Cached{}}
	if b.Now == nil {
		b.Now = time.Now
	}
	if b.GOOS == "" {
		b.GOOS = runtime.GOOS
	}
	if b.Log == nil {
		b.Log = slog.New(slog.DiscardHandler)
	}
	var out []Named
	for _, s := range specs() {
		if s.Tags&tags == 0 {
			continue
		}
		c := s.Build(b)
		if c == nil {
			continue
		}
		cc := &Cached{C: c}
		b.built[s.Name] = cc
		out = append(out, Named{Name: s.Name, Collector: cc})
	}
	return out
}

// Specs returns the list of checks (names and tags), for documentation and
// tests.
func Specs() []Spec { return specs() }

// StateOf returns a function giving the latest state and summary of the
// named check built earlier in the list, collecting once if it has not run
// yet; nil when there is no such check.
func (b *Builder) StateOf(name string) func() (State, string) {
	c := b.built[name]
	if c == nil {
		return nil
	}
	return c.State
}

// apiCheck builds a check of the REST API when enabled: wrapped so that a
// host without PortSIP reports "not installed", or failing every round when
// the client cannot be built.
func (b *Builder) apiCheck(enabled bool, build func(*portsip.Client) Collector) Collector {
	if !enabled {
		return nil
	}
	b.once.Do(func() {
		if b.API != nil {
			b.api = b.API
			return
		}
		b.api, b.apiErr = NewAPIClient(b.Config, b.Log)
	})
	if b.apiErr != nil {
		// The configuration was validated; this is not expected. Report it
		// every round rather than dropping the API checks silently.
		return Failing{fmt.Errorf("REST API client: %w", b.apiErr)}
	}
	return NeedsPBX{DataDir: b.Config.PBX.DataDir, C: build(b.api)}
}

func diskPaths(c *config.Config) map[string]string {
	paths := map[string]string{
		"pbx_data":    c.PBX.DataDir,
		"pbx_log":     c.LogDir(),
		"agent_state": c.Agent.StateDir,
	}
	if r := c.RecordingsDir(); r != "" {
		paths["recordings"] = r
	}
	for _, p := range c.Checks.Disk.Paths {
		paths["extra:"+p] = p
	}
	return paths
}

func adminNetworks(c *config.Config) []netip.Prefix {
	var nets []netip.Prefix
	for _, n := range c.Checks.BlockedIPs.AdminNetworks {
		if p, err := config.ParseNetwork(n); err == nil {
			nets = append(nets, p)
		}
	}
	return nets
}

// Cached remembers a collector's last report, so another check can refer to
// it (the gateway check cross-references the disk check on a 500).
type Cached struct {
	C    Collector
	mu   sync.Mutex
	last *Report
}

// Collect runs the wrapped collector and remembers a successful report.
func (c *Cached) Collect(ctx context.Context) (*Report, error) {
	r, err := c.C.Collect(ctx)
	if err == nil {
		c.mu.Lock()
		c.last = r
		c.mu.Unlock()
	}
	return r, err
}

// State returns the last report's state and summary, collecting once if
// there is none yet.
func (c *Cached) State() (State, string) {
	c.mu.Lock()
	last := c.last
	c.mu.Unlock()
	if last == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := c.Collect(ctx)
		if err != nil {
			return StateUnknown, err.Error()
		}
		last = r
	}
	return last.State, last.Summary
}

// Unwrap returns the collector inside the wrappers of the list (Cached,
// NeedsPBX), so the agent can reach a check's own methods.
func Unwrap(c Collector) Collector {
	for {
		switch w := c.(type) {
		case *Cached:
			c = w.C
		case NeedsPBX:
			c = w.C
		default:
			return c
		}
	}
}

// Find returns the unwrapped collector of the named check in list, or nil.
func Find(list []Named, name string) Collector {
	for _, n := range list {
		if n.Name == name {
			return Unwrap(n.Collector)
		}
	}
	return nil
}

// Failing is a check that cannot be built; it reports why every round.
type Failing struct{ Err error }

// Collect returns the error.
func (f Failing) Collect(context.Context) (*Report, error) { return nil, f.Err }

// NeedsPBX reports "not installed" instead of running a PBX check on a host
// without PortSIP, so an agent installed before the PBX raises no alarms.
type NeedsPBX struct {
	DataDir string
	C       Collector
}

// Collect runs the wrapped check when the PBX data folder exists.
func (n NeedsPBX) Collect(ctx context.Context) (*Report, error) {
	if _, err := os.Stat(n.DataDir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("PortSIP not installed (no %s; set pbx.data_dir for a custom path): %w", n.DataDir, ErrNoData)
	}
	return n.C.Collect(ctx)
}

// pbxPaths are the configured PortSIP folders the remedies name.
func pbxPaths(c *config.Config) PBXPaths {
	return PBXPaths{InstallDir: c.PBX.InstallDir, LogDir: c.LogDir()}
}

// Persist saves the state of every check of list that keeps some across
// restarts (Persister). Only the service calls it, after a round.
func Persist(list []Named) error {
	var errs []error
	for _, n := range list {
		if p, ok := Unwrap(n.Collector).(Persister); ok {
			if err := p.Persist(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
