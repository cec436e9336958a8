// Package e2e drives the real pbxagent binary against real tools (GNU tar,
// unzip, minisign, tshark, tcpdump, sipp, mailpit) on a fake PortSIP
// installation. The tests need Linux and, for capture, tmpfs and network
// namespaces, root; scripts/test.sh installs the tools.
package e2e
