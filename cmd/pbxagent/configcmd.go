package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pbxagent/pbxagent/config"
)

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show or check the configuration",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("config needs a subcommand: print or validate (see 'pbxagent config --help')")
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (defaults plus the file), secrets masked",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := config.Marshal(a.cfg)
			if err != nil {
				return err
			}
			src := a.configPath + " (not present: defaults)"
			if a.cfgFileExists() {
				src = a.configPath
			}
			fmt.Fprintf(a.stdout, "# effective configuration from %s\n%s", src, out)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a configuration file: unknown keys, wrong types and bad values, with line numbers",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError("validate takes at most one FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path, explicit := a.configPath, cmd.Flags().Changed("config")
			if len(args) == 1 {
				path, explicit = args[0], true
			}
			cfg, err := config.Load(path, explicit)
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("%s is not valid:\n%w", path, err)}
			}
			if ps := cfg.CheckFiles(); len(ps) > 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("%s is not valid:\n%w", path, &config.ValidationError{Problems: ps})}
			}
			if !explicit && !fileExists(path) {
				fmt.Fprintf(a.stdout, "%s does not exist; the defaults are in use and valid\n", path)
				return nil
			}
			fmt.Fprintf(a.stdout, "%s is valid\n", path)
			return nil
		},
	})
	return cmd
}
