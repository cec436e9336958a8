package collectors

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
)

// Port roles in the sockets report.
const (
	PortRoleSIP = "sip"
	PortRoleWeb = "web"
)

// Sockets reports which PBX ports have a listening TCP socket or a bound UDP
// socket, and by which process.
type Sockets struct {
	ports    []portRole
	rtpRange string
}

type portRole struct {
	role string
	port int
}

// NewSockets returns the sockets collector for the PBX's SIP ports, web ports
// and RTP range ("45000-65000"; empty skips RTP).
func NewSockets(sipPorts, webPorts []int, rtpRange string) *Sockets {
	s := &Sockets{rtpRange: rtpRange}
	seen := map[int]bool{}
	add := func(role string, ports []int) {
		for _, p := range ports {
			if p > 0 && p <= 65535 && !seen[p] {
				seen[p] = true
				s.ports = append(s.ports, portRole{role, p})
			}
		}
	}
	add(PortRoleSIP, sipPorts)
	add(PortRoleWeb, webPorts)
	return s
}

// Socket is one listening TCP or bound UDP socket.
type Socket struct {
	Proto   string `json:"proto"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	// PID is 0 when the owner could not be read (another user's socket without privileges).
	PID     int32  `json:"pid"`
	Process string `json:"process,omitempty"`
}

// PortStatus is one configured PBX port.
type PortStatus struct {
	Role      string   `json:"role"`
	Port      int      `json:"port"`
	Listening bool     `json:"listening"`
	Sockets   []Socket `json:"sockets,omitempty"`
}

// RTPStatus counts the UDP sockets bound in the RTP range.
type RTPStatus struct {
	Range      string `json:"range"`
	First      int    `json:"first,omitempty"`
	Last       int    `json:"last,omitempty"`
	UDPSockets int    `json:"udp_sockets"`
	// Processes counts the sockets per process name ("" when unknown).
	Processes map[string]int `json:"processes,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// SocketsData is the sockets collector's Data.
type SocketsData struct {
	Ports []PortStatus `json:"ports"`
	RTP   *RTPStatus   `json:"rtp,omitempty"`
}

// Collect lists the sockets on the PBX ports.
func (s *Sockets) Collect(ctx context.Context) (*Report, error) {
	conns, err := net.ConnectionsWithoutUidsWithContext(ctx, "inet")
	if err != nil {
		return nil, fmt.Errorf("list sockets: %w", err)
	}
	d, index := s.newData()
	names := procNames{ctx: ctx, names: map[int32]string{}}
	for _, c := range conns {
		d.add(c, index, names.name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range d.Ports {
		sortSockets(d.Ports[i].Sockets)
	}
	return socketsReport(d), nil
}

// newData returns the data with every configured port not listening, and
// the index of each port in d.Ports.
func (s *Sockets) newData() (d SocketsData, index map[int]int) {
	if s.rtpRange != "" {
		rtp := &RTPStatus{Range: s.rtpRange}
		var err error
		if rtp.First, rtp.Last, err = parsePortRange(s.rtpRange); err != nil {
			rtp.Error = err.Error()
		}
		d.RTP = rtp
	}
	index = make(map[int]int, len(s.ports))
	d.Ports = make([]PortStatus, len(s.ports))
	for i, p := range s.ports {
		d.Ports[i] = PortStatus{Role: p.role, Port: p.port}
		index[p.port] = i
	}
	return d, index
}

// procNames reads each process's name once.
type procNames struct {
	ctx   context.Context
	names map[int32]string
}

func (p procNames) name(pid int32) string {
	if pid <= 0 {
		return ""
	}
	if n, ok := p.names[pid]; ok {
		return n
	}
	var n string
	if proc, err := process.NewProcessWithContext(p.ctx, pid); err == nil {
		n, _ = proc.NameWithContext(p.ctx)
	}
	p.names[pid] = n
	return n
}

// add counts one socket: on its configured port, or in the RTP range if it
// is a UDP socket there. Sockets that neither listen nor are UDP are skipped.
func (d *SocketsData) add(c net.ConnectionStat, index map[int]int, name func(int32) string) {
	var proto string
	switch {
	case c.Type == syscall.SOCK_STREAM && c.Status == "LISTEN":
		proto = "tcp"
	case c.Type == syscall.SOCK_DGRAM:
		proto = "udp"
	default:
		return
	}
	port := int(c.Laddr.Port)
	if i, ok := index[port]; ok {
		d.Ports[i].Sockets = append(d.Ports[i].Sockets, Socket{
			Proto: proto, Address: c.Laddr.IP, Port: port, PID: c.Pid, Process: name(c.Pid),
		})
		d.Ports[i].Listening = true
		return
	}
	rtp := d.RTP
	if proto == "udp" && rtp != nil && rtp.Error == "" && port >= rtp.First && port <= rtp.Last {
		rtp.UDPSockets++
		if rtp.Processes == nil {
			rtp.Processes = map[string]int{}
		}
		rtp.Processes[name(c.Pid)]++
	}
}

// sortSockets puts UDP first (SIP's main transport), then orders by address.
func sortSockets(sks []Socket) {
	sort.Slice(sks, func(a, b int) bool {
		x, y := sks[a], sks[b]
		if x.Proto != y.Proto {
			return x.Proto > y.Proto
		}
		return x.Address < y.Address
	})
}

func socketsReport(d SocketsData) *Report {
	rep := &Report{State: StateOK, Data: d, Summary: socketsSummary(d)}
	rows := [][]string{{"ROLE", "PORT", "PROTO", "ADDRESS", "PID", "PROCESS"}}
	for _, p := range d.Ports {
		v := 0.0
		if p.Listening {
			v = 1
		}
		rep.Metrics = append(rep.Metrics, Metric{Name: "pbx_port_listening", Value: v,
			Label: map[string]string{"role": p.Role, "port": fmt.Sprint(p.Port)}})
		if !p.Listening {
			rows = append(rows, []string{p.Role, fmt.Sprint(p.Port), "-", "not listening", "", ""})
		}
		for _, sk := range p.Sockets {
			rows = append(rows, []string{p.Role, fmt.Sprint(p.Port), sk.Proto, sk.Address, pidText(sk.PID), sk.Process})
		}
	}
	rep.Text = textTable(rows)
	if rtp := d.RTP; rtp != nil {
		rep.Metrics = append(rep.Metrics, Metric{Name: "rtp_udp_sockets", Value: float64(rtp.UDPSockets)})
		if rtp.Error != "" {
			rep.Text += "\nRTP range: " + rtp.Error + "\n"
		} else {
			rep.Text += fmt.Sprintf("\nRTP %s: %d UDP sockets bound%s\n", rtp.Range, rtp.UDPSockets, processCounts(rtp.Processes))
		}
	}
	return rep
}

func socketsSummary(d SocketsData) string {
	var parts []string
	notListening := 0
	for _, role := range []string{PortRoleSIP, PortRoleWeb} {
		var items []string
		for _, p := range d.Ports {
			if p.Role != role {
				continue
			}
			if !p.Listening {
				notListening++
				continue
			}
			seen := map[string]bool{}
			for _, sk := range p.Sockets {
				item := fmt.Sprintf("%d/%s listening by %s", p.Port, sk.Proto, ownerText(sk))
				if !seen[item] {
					seen[item] = true
					items = append(items, item)
				}
			}
		}
		if len(items) > 0 {
			label := "SIP"
			if role == PortRoleWeb {
				label = "web"
			}
			parts = append(parts, label+" "+strings.Join(items, ", "))
		}
	}
	var summary string
	if len(parts) == 0 {
		summary = "no PBX port is listening"
	} else {
		summary = strings.Join(parts, "; ")
		if notListening > 0 {
			summary += fmt.Sprintf("; %d of %d PBX ports not listening", notListening, len(d.Ports))
		}
	}
	if d.RTP != nil && d.RTP.Error == "" && d.RTP.UDPSockets > 0 {
		summary += fmt.Sprintf("; RTP %d UDP sockets in %s", d.RTP.UDPSockets, d.RTP.Range)
	}
	return summary
}

func ownerText(sk Socket) string {
	switch {
	case sk.PID <= 0:
		return "unknown process"
	case sk.Process == "":
		return fmt.Sprintf("pid %d", sk.PID)
	default:
		return fmt.Sprintf("pid %d (%s)", sk.PID, sk.Process)
	}
}

func pidText(pid int32) string {
	if pid <= 0 {
		return "-"
	}
	return fmt.Sprint(pid)
}

func processCounts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", orUnknown(k), m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
