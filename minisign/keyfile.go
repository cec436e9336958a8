package minisign

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// LoadPrivateKey reads and parses an unencrypted minisign secret key file.
func LoadPrivateKey(path string) (PrivateKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("minisign: reading secret key: %w", err)
	}
	k, err := ParsePrivateKeyFile(data)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKey reads and parses a minisign public key file.
func LoadPublicKey(path string) (PublicKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return PublicKey{}, fmt.Errorf("minisign: reading public key: %w", err)
	}
	k, err := ParsePublicKey(string(data))
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// maxKeyFile bounds a key file read: minisign key files are a few hundred
// bytes, and a path pointing at a device such as /dev/zero must not be read
// without end.
const maxKeyFile = 64 << 10

// readKeyFile reads a key file of at most maxKeyFile bytes. The open does
// not block (a FIFO), and only a regular file is read.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openNonBlock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a folder, not a key file", path)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file (%v)", path, fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%s is larger than %d bytes; it is not a minisign key file", path, maxKeyFile)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return data, nil
}

// WriteKeyPair stores a key pair: the secret key at secretPath and, unless
// publicPath is empty, the public key at publicPath. Missing parent folders
// are created with mode 0700. Each file is written under a temporary name in
// its folder with mode 0600, synced, then renamed into place. An existing
// secret key is never overwritten: the error then wraps ErrKeyExists. An
// existing public key file is replaced.
func WriteKeyPair(secretPath, publicPath string, pub PublicKey, priv PrivateKey) error {
	if err := priv.valid(); err != nil {
		return err
	}
	if !pub.Equal(priv.Public()) {
		return fmt.Errorf("%w: public key %s does not belong to secret key %s", ErrInvalidKey, pub.IDString(), priv.IDString())
	}
	if err := exists(secretPath); err != nil {
		return err
	}
	if err := writeFileAtomic(secretPath, priv.MarshalFile(), false); err != nil {
		return err
	}
	if publicPath == "" {
		return nil
	}
	return writeFileAtomic(publicPath, pub.MarshalFile(), true)
}

// LoadOrCreate loads the secret key at secretPath, writing its public key
// to publicPath if that file is missing. If there is no secret key yet, it
// generates a key pair and writes both files (see WriteKeyPair); created
// then reports true. An existing public key file that does not match the
// secret key is an error (wrapping ErrInvalidKey), since signatures checked
// against it would fail. An empty publicPath skips the public key file.
func LoadOrCreate(secretPath, publicPath string) (priv PrivateKey, created bool, err error) {
	priv, err = LoadPrivateKey(secretPath)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		pub, newPriv, err := GenerateKey(nil)
		if err != nil {
			return PrivateKey{}, false, err
		}
		err = WriteKeyPair(secretPath, publicPath, pub, newPriv)
		if err == nil {
			return newPriv, true, nil
		}
		if !errors.Is(err, ErrKeyExists) {
			return PrivateKey{}, false, err
		}
		// Another process created the key meanwhile: use that one.
		if priv, err = LoadPrivateKey(secretPath); err != nil {
			return PrivateKey{}, false, err
		}
	default:
		return PrivateKey{}, false, err
	}
	if publicPath == "" {
		return priv, false, nil
	}
	pub, err := LoadPublicKey(publicPath)
	switch {
	case err == nil:
		if !pub.Equal(priv.Public()) {
			return PrivateKey{}, false, fmt.Errorf("%w: public key file %s (key id %s) does not match secret key file %s (key id %s)",
				ErrInvalidKey, publicPath, pub.IDString(), secretPath, priv.IDString())
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := writeFileAtomic(publicPath, priv.Public().MarshalFile(), true); err != nil {
			return PrivateKey{}, false, err
		}
	default:
		return PrivateKey{}, false, err
	}
	return priv, false, nil
}

// exists returns an error wrapping ErrKeyExists if path exists, nil if it
// does not, and the stat error otherwise.
func exists(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s", ErrKeyExists, path)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("minisign: checking %s: %w", path, err)
	}
}

// writeFileAtomic writes data to path through a synced temporary file in
// the same folder, creating the folder with mode 0700 if needed. With
// replace false an existing file at path is left alone and the error wraps
// ErrKeyExists.
func writeFileAtomic(path string, data []byte, replace bool) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("minisign: creating folder for %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("minisign: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("minisign: writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("minisign: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("minisign: syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("minisign: writing %s: %w", path, err)
	}
	if replace {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("minisign: writing %s: %w", path, err)
		}
	} else if err := renameNoReplace(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// renameNoReplace moves tmp to path unless path exists. A hard link makes
// the check and the move one step where the file system supports it;
// elsewhere it falls back to a check followed by a rename.
func renameNoReplace(tmp, path string) error {
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		_ = os.Remove(tmp)
		return nil
	case errors.Is(err, fs.ErrExist):
		_ = os.Remove(tmp)
		return fmt.Errorf("%w: %s", ErrKeyExists, path)
	}
	if err := exists(path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("minisign: writing %s: %w", path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable where the platform allows it.
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
