package bundle

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

// Signer signs a BLAKE2b-512 prehash of the archive (minisign's hashed
// mode); minisign.PrivateKey implements it.
type Signer interface {
	SignPrehashed(digest []byte, trustedComment, untrustedComment string) ([]byte, error)
}

// Result describes a finished bundle.
type Result struct {
	Path          string    `json:"path"`
	SignaturePath string    `json:"signature_path,omitempty"`
	Size          int64     `json:"size"`
	SHA256        string    `json:"sha256"`
	Partial       bool      `json:"partial"`
	Files         int       `json:"files"`
	Missing       int       `json:"missing"`
	Warnings      []string  `json:"warnings,omitempty"`
	Manifest      *Manifest `json:"-"`

	// PlainSHA256 is the SHA-256 of the archive before encryption; empty
	// when the bundle is not encrypted.
	PlainSHA256 string `json:"plain_sha256,omitempty"`
}

// Close writes manifest.json (m completed with the files, missing entries
// and warnings recorded so far), finishes the archive, fsyncs it, renames it
// to its final name and signs it. On any error the temporary file is
// removed.
func (w *Writer) Close(m *Manifest, signer Signer) (*Result, error) {
	if err := w.completeManifest(m); err != nil {
		return nil, err
	}
	final, err := w.seal(m)
	if err != nil {
		w.Abort()
		return nil, err
	}
	res := &Result{
		Path:     final,
		Size:     w.size.Load(),
		SHA256:   hex.EncodeToString(w.sha.Sum(nil)),
		Partial:  m.Partial,
		Files:    len(m.Files),
		Missing:  len(m.Missing),
		Warnings: m.Warnings,
		Manifest: m,
	}
	if w.plain != nil {
		res.PlainSHA256 = hex.EncodeToString(w.plain.Sum(nil))
	}
	if signer != nil {
		if err := w.sign(res, signer); err != nil {
			return res, err
		}
	}
	return res, nil
}

// completeManifest ends adding and completes m with the files, missing
// entries and warnings recorded. A writer that failed is aborted.
func (w *Writer) completeManifest(m *Manifest) error {
	w.mu.Lock()
	if w.finished {
		w.mu.Unlock()
		return errors.New("bundle: the archive is already closed or aborted")
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		w.Abort()
		return err
	}
	w.finished = true
	m.Version = ManifestVersion
	m.Files = append([]FileEntry(nil), w.files...)
	m.Missing = append([]MissingEntry(nil), w.missing...)
	m.Warnings = append(m.Warnings, w.warnings...)
	if m.Files == nil {
		m.Files = []FileEntry{}
	}
	w.mu.Unlock()
	return nil
}

// seal adds manifest.json, finishes the archive and moves it to its final
// name, which it returns.
func (w *Writer) seal(m *Manifest) (string, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode manifest: %w", err)
	}
	data = append(data, '\n')
	w.mu.Lock()
	w.paths[ManifestName] = false
	err = w.addLocked(ManifestName, data)
	w.mu.Unlock()
	if err != nil {
		return "", err
	}
	if err := w.finish(); err != nil {
		return "", err
	}
	return w.rename()
}

// sign writes the minisign signature of the finished archive beside it.
// The trusted comment binds the file name, host, time and hashes.
func (w *Writer) sign(res *Result, signer Signer) error {
	m := res.Manifest
	trusted := fmt.Sprintf("timestamp:%d\tfile:%s\thashed\thost:%s\tsha256:%s",
		m.FinishedAt.Unix(), filepath.Base(res.Path), m.Host, res.SHA256)
	if res.PlainSHA256 != "" {
		trusted += "\tplain_sha256:" + res.PlainSHA256
	}
	sig, err := signer.SignPrehashed(w.pre.Sum(nil), trusted, "signature from pbxagent secret key")
	if err != nil {
		return fmt.Errorf("sign %s: %w", res.Path, err)
	}
	sigPath := res.Path + ".minisig"
	if err := atomicfile.Write(sigPath, sig, 0o600); err != nil {
		return fmt.Errorf("write signature: %w", err)
	}
	res.SignaturePath = sigPath
	return nil
}

// finish ends the archive and the compressor and makes the file durable.
func (w *Writer) finish() error {
	w.mu.Lock()
	w.jobsClosed = true
	close(w.jobs)
	w.mu.Unlock()
	if err := <-w.done; err != nil {
		return fmt.Errorf("finish archive %s: %w", w.tmpPath, err)
	}
	if w.comp != nil {
		if err := w.comp.Close(); err != nil {
			return fmt.Errorf("finish compression of %s: %w", w.tmpPath, err)
		}
	}
	if w.enc != nil {
		if err := w.enc.Close(); err != nil {
			return fmt.Errorf("finish encryption of %s: %w", w.tmpPath, err)
		}
	}
	if err := w.buf.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", w.tmpPath, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", w.tmpPath, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", w.tmpPath, err)
	}
	w.f = nil
	return nil
}

// rename moves the finished archive to its final name without replacing an
// existing file.
func (w *Writer) rename() (string, error) {
	base := w.opt.Name
	ext := w.opt.ext()
	stem := base[:len(base)-len(ext)]
	for i := 0; i < 100; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d%s", stem, i, ext)
		}
		final := filepath.Join(w.opt.Dir, name)
		if _, err := os.Lstat(final); err == nil {
			continue
		}
		if err := os.Rename(w.tmpPath, final); err != nil {
			return "", fmt.Errorf("rename %s to %s: %w", w.tmpPath, final, err)
		}
		atomicfile.SyncDir(w.opt.Dir)
		w.tmpPath = ""
		return final, nil
	}
	return "", fmt.Errorf("rename %s: too many bundles named %s in %s", w.tmpPath, base, w.opt.Dir)
}
