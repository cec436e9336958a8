//go:build genman

// The man page generator is built only with the genman tag (scripts/package.sh:
// `go build -tags genman`), so cobra/doc, go-md2man and blackfriday stay out
// of the shipped binary, whose start-up would otherwise run their package
// initialisers (214 KB of heap for blackfriday alone) and touch their pages.

package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// manFiles is the FILES section of the man page, appended to the root
// command's description (cobra's generator has no section of its own).
const manFiles = `
FILES

/etc/pbxagent/pbxagent.yaml: the configuration; every key is optional and
commented with its default. 'pbxagent config validate' checks it.

/var/lib/pbxagent: the state folder: the signing key (pbxagent.key,
pbxagent.pub), the alert state and mail queue, the last round and the
support bundles.

/lib/systemd/system/pbxagent.service: the hardened systemd unit
(Type=notify, watchdog, 'systemctl reload pbxagent' re-reads the
configuration). 'journalctl -u pbxagent -p warning' shows the warnings.`

// manCmd writes the man pages, one per command with every flag, from the
// command tree: the packages build them with it, so they cannot drift
// from the program.
// buildCommands are the commands of package builds only.
func (a *app) buildCommands() []*cobra.Command { return []*cobra.Command{a.manCmd()} }

func (a *app) manCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "man FOLDER",
		Short:  "Write the man pages (pbxagent.1 and one per command) into FOLDER",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("create %s: %w", args[0], err)
			}
			root.Long += "\n" + manFiles
			root.DisableAutoGenTag = true
			// The date comes from SOURCE_DATE_EPOCH when it is set (cobra
			// reads it), so package builds are reproducible.
			hdr := &doc.GenManHeader{Title: "PBXAGENT", Section: "1", Source: "pbxagent " + versionString(), Manual: "pbxagent manual"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("write the man pages: %w", err)
			}
			return nil
		},
	}
}
