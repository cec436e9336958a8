// Package rtpdrop makes real, deterministic packet loss for tests: a small
// eBPF traffic-control program, attached to a network interface, drops
// every UDP RTP packet to one port whose RTP sequence number is a multiple
// of N, and counts what it saw and what it dropped. The kernels the tests
// run on have no netem and no tc actions, but load eBPF programs; the
// program is written with the asm package, so no compiler is needed.
//
// Linux only; the package is empty elsewhere.
package rtpdrop
