package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/delivery"
	"github.com/pbxagent/pbxagent/minisign"
)

func (a *app) verifyCmd() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify ARCHIVE",
		Short: "Check a bundle's signature and every file hash in its manifest",
		Long: `Check that a support bundle is exactly what the agent wrote: the detached
signature ARCHIVE.minisig must match the public key, and every file inside
must match the SHA-256 in manifest.json. Any difference is listed.

Without --pubkey the host's own public key is used.

An encrypted bundle (ARCHIVE ending in .age) is checked in one command with
--identity: first the signature over the encrypted file (a changed byte is
reported before anything is decrypted), then the archive is decrypted as a
stream and checked against the plaintext SHA-256 in the signature and every
hash in manifest.json. Decrypt it for reading with age -d -i IDENTITY.`,
		Example: `  pbxagent verify /var/lib/pbxagent/bundles/pbx-support-pbx1-20261127T101500Z.tar.gz
  pbxagent verify bundle.tar.gz --pubkey RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3
  pbxagent verify bundle.tar.gz --pubkey pbx1.pub
  pbxagent verify bundle.tar.gz.age --pubkey pbx1.pub --identity support.key`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("verify needs exactly one ARCHIVE argument (see 'pbxagent verify --help')")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runVerify(cmd.Context(), args[0], f)
		},
	}
	cmd.Flags().StringVarP(&f.pubkey, "pubkey", "p", "", "public key: a .pub file or the base64 key itself (default: this host's key)")
	cmd.Flags().StringVarP(&f.sigPath, "signature", "x", "", "signature file (default ARCHIVE.minisig)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the result as JSON")
	cmd.Flags().StringVarP(&f.identity, "identity", "i", "", "age identity file (or SSH private key) to decrypt an encrypted bundle")
	return cmd
}

type verifyFlags struct {
	pubkey, sigPath, identity string
	json                      bool
}

func (a *app) runVerify(ctx context.Context, archive string, f verifyFlags) error {
	if _, err := os.Stat(archive); err != nil {
		return usageError("cannot read bundle %s: %v", archive, err)
	}
	pub, src, err := a.loadPublicKey(f.pubkey)
	if err != nil {
		return err
	}
	sigPath := f.sigPath
	if sigPath == "" {
		sigPath = archive + ".minisig"
	}
	var ids []age.Identity
	if f.identity != "" {
		if ids, err = delivery.ReadIdentities(f.identity); err != nil {
			return usageError("--identity: %v", err)
		}
	}
	v, err := delivery.Verify(ctx, archive, sigPath, pub, ids)
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
	} else {
		a.printVerification(v, src)
	}
	if !v.OK() {
		return &exitError{code: exitFailure, err: fmt.Errorf("verification FAILED for %s", archive)}
	}
	return nil
}

// loadPublicKey reads --pubkey as a file, else as a key string, else the
// host's public key file.
func (a *app) loadPublicKey(arg string) (minisign.PublicKey, string, error) {
	if arg == "" {
		p := a.cfg.PublicKeyPath()
		data, err := os.ReadFile(p)
		if err != nil {
			return minisign.PublicKey{}, "", usageError("no public key given and this host's key %s cannot be read (%v): pass the signer's key with --pubkey", p, err)
		}
		k, err := minisign.ParsePublicKey(string(data))
		if err != nil {
			return minisign.PublicKey{}, "", usageError("public key %s: %v", p, err)
		}
		return k, p, nil
	}
	data, ferr := os.ReadFile(arg)
	if ferr == nil {
		k, err := minisign.ParsePublicKey(string(data))
		if err != nil {
			return minisign.PublicKey{}, "", usageError("public key file %s: %v", arg, err)
		}
		return k, arg, nil
	}
	k, err := minisign.ParsePublicKey(arg)
	if err != nil {
		if !errors.Is(ferr, os.ErrNotExist) {
			return minisign.PublicKey{}, "", usageError("--pubkey %s: %v", arg, ferr)
		}
		return minisign.PublicKey{}, "", usageError("--pubkey %q is neither a readable file nor a minisign public key (%v)", arg, err)
	}
	return k, "--pubkey", nil
}

func (a *app) printVerification(v *bundle.Verification, keySrc string) {
	w := a.stdout
	fmt.Fprintf(w, "bundle:    %s\n", v.Archive)
	if v.SignatureOK {
		fmt.Fprintf(w, "signature: OK, key %s (%s)\n", v.KeyID, keySrc)
		fmt.Fprintf(w, "           trusted comment: %s\n", v.TrustedComment)
	} else {
		fmt.Fprintf(w, "signature: FAILED: %s\n", v.SignatureError)
	}
	if len(v.Problems) == 0 {
		fmt.Fprintf(w, "contents:  OK, %d files match manifest.json\n", v.Files)
	} else {
		fmt.Fprintf(w, "contents:  FAILED, %d problems (%d files match):\n", len(v.Problems), v.Files)
		for _, p := range v.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	if v.Manifest != nil {
		m := v.Manifest
		partial := ""
		if m.Partial {
			partial = " (partial: " + m.PartialReason + ")"
		}
		fmt.Fprintf(w, "made:      on %s by pbxagent %s, %s to %s%s\n", m.Host, m.AgentVersion,
			m.StartedAt.Format("2006-01-02 15:04:05Z07:00"), m.FinishedAt.Format("15:04:05Z07:00"), partial)
	}
}
