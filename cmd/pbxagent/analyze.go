package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pbxagent/pbxagent/analyze"
	"github.com/pbxagent/pbxagent/analyze/report"
	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

func (a *app) analyzeCmd() *cobra.Command {
	var out string
	var asJSON bool
	var pbxIPs, trunkIPs []string
	var callID, writeCall string
	cmd := &cobra.Command{
		Use:   "analyze BUNDLE|PCAP",
		Short: "Walk the troubleshooting guide over a bundle or capture: findings, ladders, fixes",
		Long: `Read a support bundle (its capture, system snapshot and logs) or a bare
pcap/pcapng file, and walk the PortSIP troubleshooting guide: which status
code came back and from whom, whether the trunk answered at all, whether the
SDP carries a private address, whether audio flows both ways, whether the disk
is full or the admin's IP blocked.

Writes analysis.json and a self-contained report.html (ladder diagrams of the
failed calls) to --out, by default a folder next to the input, and prints a
short summary. Every 'pbxagent bundle --duration' already carries both.`,
		Example: `  pbxagent analyze /var/lib/pbxagent/bundles/pbx-support-pbx1-20261127T101500Z.tar.gz
  pbxagent analyze trace.pcap --pbx-ip 203.0.113.10 --out /tmp/trace-report
  pbxagent analyze trace.pcap --trunk-ip 198.51.100.7 --trunk-ip 198.51.100.8
  pbxagent analyze trace.pcap --call a84b4c76e66710@pc33 --write call.pcapng`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("analyze needs exactly one BUNDLE or PCAP argument (see 'pbxagent analyze --help')")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			in := args[0]
			if _, err := os.Stat(in); err != nil {
				return usageError("cannot read %s: %v", in, err)
			}
			if (callID == "") != (writeCall == "") {
				return usageError("--call and --write go together: pbxagent analyze CAPTURE --call CALL-ID --write call.pcapng")
			}
			if writeCall != "" && isBundleName(in) {
				return usageError("--write copies packets out of a capture file; extract capture/*.pcapng from the bundle %s first", in)
			}
			opt := a.agent().AnalyzeOptions()
			if err := addrFlag("--pbx-ip", pbxIPs, &opt.PBX); err != nil {
				return err
			}
			if err := addrFlag("--trunk-ip", trunkIPs, &opt.Trunks); err != nil {
				return err
			}
			rep, err := analyze.AnalyzeFile(cmd.Context(), in, opt)
			if err != nil {
				return fmt.Errorf("analyze %s: %w", in, err)
			}
			if writeCall != "" {
				return a.writeCall(cmd, in, rep, callID, writeCall)
			}
			data, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			data = append(data, '\n')
			var html bytes.Buffer
			if err := report.RenderHTML(&html, rep); err != nil {
				return fmt.Errorf("render report: %w", err)
			}
			if out == "" {
				out = defaultAnalysisDir(in)
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", out, err)
			}
			jsonPath, htmlPath := filepath.Join(out, "analysis.json"), filepath.Join(out, "report.html")
			if err := atomicfile.Write(jsonPath, data, 0o600); err != nil {
				return err
			}
			if err := atomicfile.Write(htmlPath, html.Bytes(), 0o600); err != nil {
				return err
			}
			if asJSON {
				_, err := a.stdout.Write(data)
				return err
			}
			w := a.text()
			fmt.Fprintln(w, rep.Summary())
			fmt.Fprintf(w, "\nwrote %s\n      %s (open it in a browser)\n", jsonPath, htmlPath)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "folder for analysis.json and report.html (default: next to the input)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print analysis.json on stdout instead of the summary")
	cmd.Flags().StringArrayVar(&pbxIPs, "pbx-ip", nil, "the PBX's address (repeatable; replaces analyze.pbx_addresses; default: a bundle's host addresses, else placed from the SIP evidence)")
	cmd.Flags().StringArrayVar(&trunkIPs, "trunk-ip", nil, "a SIP trunk's address: a peer there is a trunk (repeatable; replaces analyze.trunk_addresses)")
	cmd.Flags().StringVar(&callID, "call", "", "with --write: the Call-ID of the call to save")
	cmd.Flags().StringVar(&writeCall, "write", "", "write the call's SIP and RTP packets to this pcapng file (with --call)")
	return cmd
}

// addrFlag parses the addresses of a repeatable flag into *dst; given on
// the command line, they replace the configured ones.
func addrFlag(flag string, vals []string, dst *[]netip.Addr) error {
	if len(vals) == 0 {
		return nil
	}
	var out []netip.Addr
	for _, s := range vals {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return usageError("%s %q: give an IP address such as 203.0.113.10", flag, s)
		}
		out = append(out, ip.Unmap())
	}
	*dst = out
	return nil
}

// writeCall saves one call's packets, as sngrep's "save dialog" does.
func (a *app) writeCall(cmd *cobra.Command, in string, rep *analyze.Report, callID, path string) error {
	var buf bytes.Buffer
	n, err := analyze.WriteCall(cmd.Context(), in, rep, callID, &buf)
	if err != nil {
		return fmt.Errorf("--call %s: %w", callID, err)
	}
	if err := atomicfile.Write(path, buf.Bytes(), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %d packets of call %s to %s\n", n, callID, path)
	return nil
}

func isBundleName(p string) bool {
	for _, ext := range []string{".tar.gz", ".tgz", ".tar.zst", ".zip"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

// defaultAnalysisDir is "<input without extensions>-analysis" beside the
// input.
func defaultAnalysisDir(in string) string {
	base := filepath.Base(in)
	for _, ext := range []string{".tar.gz", ".tar.zst", ".zip", ".pcapng", ".pcap"} {
		if strings.HasSuffix(base, ext) {
			base = strings.TrimSuffix(base, ext)
			break
		}
	}
	return filepath.Join(filepath.Dir(in), base+"-analysis")
}
