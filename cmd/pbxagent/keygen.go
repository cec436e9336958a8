package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbxagent/pbxagent/minisign"
)

func (a *app) keygenCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create this host's bundle signing key pair and print the public key",
		Long: `Create the Ed25519 key pair that signs this host's bundles (minisign
format). The secret key is written with mode 0600; give the public key to
whoever checks the bundles (pbxagent verify --pubkey, or minisign -V -P).

The first bundle creates a key by itself if there is none, so this command is
only needed to create it ahead of time or to replace it (--force keeps the old
key under a new name).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sec, pubPath := a.cfg.SecretKeyPath(), a.cfg.PublicKeyPath()
			if _, err := os.Stat(sec); err == nil {
				if !force {
					return fmt.Errorf("a signing key already exists at %s; use --force to replace it (the old key is kept as a backup)", sec)
				}
				stamp := time.Now().UTC().Format("20060102T150405Z")
				for _, p := range []string{sec, pubPath} {
					if _, err := os.Stat(p); err == nil {
						if err := os.Rename(p, p+".old-"+stamp); err != nil {
							return fmt.Errorf("keep the old key: %w", err)
						}
					}
				}
			}
			pub, priv, err := minisign.GenerateKey(nil)
			if err != nil {
				return err
			}
			if err := minisign.WriteKeyPair(sec, pubPath, pub, priv); err != nil {
				if errors.Is(err, minisign.ErrKeyExists) {
					return fmt.Errorf("a signing key already exists at %s", sec)
				}
				return err
			}
			fmt.Fprintf(a.stdout, "secret key: %s (mode 0600, keep it private)\npublic key: %s\nkey id:     %s\n\n%s\n",
				sec, pubPath, pub.IDString(), pub.String())
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing key (the old one is renamed, not deleted)")
	return cmd
}
