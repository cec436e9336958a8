package delivery

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/pbxagent/pbxagent/minisign"
)

// bundleName matches the names the agent gives its bundles.
var bundleName = regexp.MustCompile(`^pbx-support-[A-Za-z0-9._-]+-\d{8}T\d{6}Z(-\d+)?\.(tar\.gz|tar\.zst|zip)(\.age)?$`)

// sidecars are the files that belong to a bundle and go with it.
var sidecars = []string{".minisig", ReceiptSuffix}

// Bundle is one bundle in the output folder.
type Bundle struct {
	Path      string    `json:"path"`
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	Time      time.Time `json:"time"`
	Signed    bool      `json:"signed"`
	Encrypted bool      `json:"encrypted"`
	Uploaded  bool      `json:"uploaded"`
	Object    string    `json:"object,omitempty"`
	// Proven is true when the host's key signed a trusted comment naming
	// this file: only proven bundles are ever removed by retention.
	Proven bool   `json:"proven"`
	Why    string `json:"not_proven,omitempty"`
}

// List returns the bundles in dir, newest first. A file is listed when its
// name is a bundle's and it is a regular file (symlinks and the like are
// skipped); it is proven the agent's when its signature's trusted comment,
// verified with pub, names it. pub may be nil (nothing is then proven).
func List(dir string, pub *minisign.PublicKey) ([]Bundle, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list bundles in %s: %w", dir, err)
	}
	var out []Bundle
	for _, e := range ents {
		if !bundleName.MatchString(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		b := Bundle{Path: filepath.Join(dir, e.Name()), Name: e.Name(), Size: fi.Size(), Time: fi.ModTime().UTC(),
			Encrypted: IsEncrypted(e.Name())}
		b.prove(pub)
		if rc := readReceipt(b.Path); rc != nil {
			b.Uploaded, b.Object = true, rc.Object
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

// prove checks the bundle's signature file: made by pub, with a trusted
// comment naming this very file. Only the comment's signature is checked
// (the archive itself is not read), which proves the name, not the bytes.
func (b *Bundle) prove(pub *minisign.PublicKey) {
	sigPath := b.Path + ".minisig"
	data, err := readLimited(sigPath, maxSignature)
	if err != nil {
		b.Why = "no signature"
		return
	}
	s, err := minisign.ParseSignature(data)
	if err != nil {
		b.Why = "unreadable signature"
		return
	}
	b.Signed = true
	if pub == nil {
		b.Why = "no host public key to check the signature with"
		return
	}
	if s.KeyID != pub.ID || !ed25519.Verify(pub.Key, append(append([]byte(nil), s.Sig[:]...), s.TrustedComment...), s.GlobalSig[:]) {
		b.Why = "signed by another key"
		return
	}
	if commentField(s.TrustedComment, "file") != b.Name {
		b.Why = "signature names another file"
		return
	}
	if ts, err := strconv.ParseInt(commentField(s.TrustedComment, "timestamp"), 10, 64); err == nil {
		b.Time = time.Unix(ts, 0).UTC()
	}
	b.Proven = true
}

func readReceipt(bundlePath string) *Receipt {
	data, err := readLimited(bundlePath+ReceiptSuffix, 64<<10)
	if err != nil {
		return nil
	}
	var rc Receipt
	if json.Unmarshal(data, &rc) != nil || rc.Object == "" {
		return nil
	}
	return &rc
}

// Retention bounds the bundles of a folder; zero disables a limit.
type Retention struct {
	MaxTotal int64
	MaxAge   time.Duration
	// Keep is a bundle path never removed (the one just written), though
	// it counts towards MaxTotal.
	Keep string
	// Dir is the folder the limits apply to (the configured output
	// folder); Deliver leaves other folders, such as a USB stick given
	// to one run, alone.
	Dir string
}

// Prune removes proven bundles (and their sidecars) beyond the limits,
// oldest first: every one older than MaxAge, then the oldest until the
// proven bundles total at most MaxTotal. Each removal is logged. It
// returns what was removed.
func Prune(dir string, pub *minisign.PublicKey, r Retention, now time.Time, log *slog.Logger) ([]Bundle, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	all, err := List(dir, pub)
	if err != nil {
		return nil, err
	}
	var removed []Bundle
	var total int64
	var errs []error
	for _, b := range all { // newest first
		if !b.Proven {
			continue
		}
		reason := ""
		switch {
		case b.Path == r.Keep:
			total += b.Size
			continue
		case r.MaxAge > 0 && now.Sub(b.Time) > r.MaxAge:
			reason = fmt.Sprintf("older than %s", r.MaxAge)
		case r.MaxTotal > 0 && total+b.Size > r.MaxTotal:
			reason = fmt.Sprintf("bundles would exceed %d bytes", r.MaxTotal)
			total = r.MaxTotal + 1 // everything older goes too
		default:
			total += b.Size
			continue
		}
		if err := removeBundle(b.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("removed old bundle", "bundle", b.Path, "size", b.Size, "time", b.Time, "reason", reason)
		removed = append(removed, b)
	}
	return removed, errors.Join(errs...)
}

// Remove deletes one bundle of dir, by name, with its sidecars. Only a
// regular file with a bundle's name is removed.
func Remove(dir, name string) error {
	if filepath.Base(name) != name || !bundleName.MatchString(name) {
		return fmt.Errorf("%q is not the name of a bundle (pbx-support-HOST-TIME.tar.gz and the like)", name)
	}
	p := filepath.Join(dir, name)
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file; not removing it", p)
	}
	return removeBundle(p)
}

func removeBundle(p string) error {
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove bundle: %w", err)
	}
	for _, s := range sidecars {
		if fi, err := os.Lstat(p + s); err == nil && fi.Mode().IsRegular() {
			os.Remove(p + s)
		}
	}
	return nil
}
