// Package delivery gets support bundles off the host safely: encrypted to
// support's age key while they are written, uploaded to S3-compatible
// storage or a pre-signed URL with resumable multipart uploads, and kept
// within size and age limits in the output folder.
//
// Whatever writes a bundle (the CLI, an alert's auto-bundle) uses it the
// same way:
//
//	enc, err := delivery.Encryption(cfg, extraRecipients) // before writing
//	// ... bundle.Options{Encrypt: enc, Name: name + bundle.EncryptExt} ...
//	out, err := delivery.Deliver(ctx, path, delivery.FromConfig(cfg, os.Getenv))
//
// What is signed: the file on disk. For an encrypted bundle that is the
// .age file, so a changed byte is caught before anything is decrypted; the
// signature's trusted comment also carries the plaintext archive's SHA-256
// (plain_sha256), and manifest.json inside keeps every file's SHA-256.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/minisign"
)

// ErrPlaintextRefused is returned when encryption is mandatory and no
// recipient is known.
var ErrPlaintextRefused = errors.New("encryption is mandatory (delivery.require_encryption) but no recipient is configured: add support's age public key to delivery.encrypt_to")

// Encryption returns the bundle writer's Encrypt option for the
// configured recipients plus extra ones; nil means plaintext, which is an
// error when the configuration makes encryption mandatory.
func Encryption(c *config.Config, extra []string) (func(io.Writer) (io.WriteCloser, error), error) {
	list := append(append([]string(nil), c.Delivery.EncryptTo...), extra...)
	if len(list) == 0 {
		if c.Delivery.RequireEncryption {
			return nil, ErrPlaintextRefused
		}
		return nil, nil
	}
	rs, err := ParseRecipients(list)
	if err != nil {
		return nil, err
	}
	return Encrypter(rs), nil
}

// Options say what Deliver does after a bundle is written.
type Options struct {
	// Upload sends the bundle to UploadOptions' target.
	Upload bool
	UploadOptions
	// Retention is applied to the bundle's folder afterwards.
	Retention Retention
	// PublicKey proves which bundles are the agent's (see List).
	PublicKey *minisign.PublicKey
}

// Outcome is what Deliver did.
type Outcome struct {
	Receipt *Receipt `json:"upload,omitempty"`
	Removed []Bundle `json:"removed,omitempty"`
}

// Deliver uploads the bundle at path when asked, then prunes the
// retention folder (opt.Retention.Dir) to its limits, never removing the
// bundle itself. An upload error is
// returned after pruning; nothing local is removed because of it.
func Deliver(ctx context.Context, path string, opt Options) (*Outcome, error) {
	out := &Outcome{}
	var uerr error
	if opt.Upload {
		out.Receipt, uerr = Upload(ctx, path, opt.UploadOptions)
	}
	r := opt.Retention
	r.Keep = path
	if r.Dir != "" && (r.MaxTotal > 0 || r.MaxAge > 0) {
		removed, err := Prune(r.Dir, opt.PublicKey, r, time.Now(), opt.Log)
		out.Removed = removed
		if err != nil && uerr == nil {
			return out, fmt.Errorf("retention: %w", err)
		}
	}
	return out, uerr
}

// UploadConfigured reports whether the configuration names a bucket.
func UploadConfigured(c *config.Config) bool { return c.Delivery.Upload.Endpoint != "" }

// FromConfig builds Options from the configuration; credentials missing
// there come from PBXAGENT_S3_ACCESS_KEY / PBXAGENT_S3_SECRET_KEY or
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. The host's public key, when
// readable, proves which bundles retention may remove.
func FromConfig(c *config.Config, getenv func(string) string, log *slog.Logger) Options {
	u := c.Delivery.Upload
	first := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	opt := Options{
		Upload: u.Auto && u.Endpoint != "",
		UploadOptions: UploadOptions{
			Target: Target{
				Endpoint:  u.Endpoint,
				Bucket:    u.Bucket,
				Region:    u.Region,
				AccessKey: first(u.AccessKey.Reveal(), getenv("PBXAGENT_S3_ACCESS_KEY"), getenv("AWS_ACCESS_KEY_ID")),
				SecretKey: first(u.SecretKey.Reveal(), getenv("PBXAGENT_S3_SECRET_KEY"), getenv("AWS_SECRET_ACCESS_KEY")),
				CAFile:    u.CAFile,
			},
			Case:      u.Case,
			PartSize:  int64(u.PartSize),
			LimitRate: int64(u.LimitRate),
			Parallel:  u.Parallel,
			Retries:   u.Retries,
			StateDir:  c.Agent.StateDir,
			Log:       log,
		},
		Retention: Retention{MaxTotal: int64(c.Delivery.Retention.MaxTotalSize), MaxAge: c.Delivery.Retention.MaxAge.D(),
			Dir: c.OutputDir()},
	}
	if pub, err := minisign.LoadPublicKey(c.PublicKeyPath()); err == nil {
		opt.PublicKey = &pub
	}
	if h, err := os.Hostname(); err == nil {
		opt.Host = safeHost(h)
	}
	return opt
}

// safeHost keeps the characters an object name may carry.
func safeHost(h string) string {
	b := []byte(h)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "unknown-host"
	}
	return string(b)
}
