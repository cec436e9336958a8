package collectors

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/shirou/gopsutil/v4/net"
)

// Network reports the network interfaces and their addresses.
type Network struct{}

// NewNetwork returns the network collector.
func NewNetwork() *Network { return &Network{} }

// Interface is one network interface.
type Interface struct {
	Name  string   `json:"name"`
	Index int      `json:"index"`
	MTU   int      `json:"mtu"`
	MAC   string   `json:"mac,omitempty"`
	Flags []string `json:"flags"`
	Up    bool     `json:"up"`
	// Loopback is true for lo / the loopback pseudo-interface.
	Loopback bool `json:"loopback"`
	// Addresses are in CIDR form ("192.0.2.10/24", "fe80::1/64").
	Addresses []string `json:"addresses"`
}

// NetworkData is the network collector's Data.
type NetworkData struct {
	Interfaces []Interface `json:"interfaces"`
}

// Collect lists the interfaces.
func (n *Network) Collect(ctx context.Context) (*Report, error) {
	ifs, err := net.InterfacesWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("network interfaces: %w", err)
	}
	d := NetworkData{Interfaces: make([]Interface, 0, len(ifs))}
	up := 0
	var shown []string
	rows := [][]string{{"INTERFACE", "STATE", "MTU", "MAC", "ADDRESSES"}}
	for _, i := range ifs {
		it := Interface{
			Name: i.Name, Index: i.Index, MTU: i.MTU, MAC: i.HardwareAddr,
			Flags:     append([]string{}, i.Flags...),
			Up:        slices.Contains(i.Flags, "up"),
			Loopback:  slices.Contains(i.Flags, "loopback"),
			Addresses: make([]string, 0, len(i.Addrs)),
		}
		for _, a := range i.Addrs {
			it.Addresses = append(it.Addresses, a.Addr)
		}
		if it.Up {
			up++
			if !it.Loopback {
				for _, a := range it.Addresses {
					if !strings.HasPrefix(a, "fe80:") {
						shown = append(shown, it.Name+" "+a)
					}
				}
			}
		}
		state := "down"
		if it.Up {
			state = "up"
		}
		rows = append(rows, []string{it.Name, state, fmt.Sprint(it.MTU), it.MAC, strings.Join(it.Addresses, " ")})
		d.Interfaces = append(d.Interfaces, it)
	}
	summary := fmt.Sprintf("%d interfaces, %d up", len(d.Interfaces), up)
	if len(shown) > 0 {
		if len(shown) > 6 {
			shown = append(shown[:6], fmt.Sprintf("... %d more", len(shown)-6))
		}
		summary += "; " + strings.Join(shown, ", ")
	}
	return &Report{
		State:   StateOK,
		Summary: summary,
		Metrics: []Metric{
			{Name: "network_interfaces", Value: float64(len(d.Interfaces))},
			{Name: "network_interfaces_up", Value: float64(up)},
		},
		Data: d,
		Text: textTable(rows),
	}, nil
}
