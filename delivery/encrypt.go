package delivery

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// maxIdentityFile bounds an identity file read into memory.
const maxIdentityFile = 1 << 20

// ParseRecipient reads one recipient: an age X25519 public key
// ("age1...") or an SSH public key ("ssh-ed25519 AAAA..." or
// "ssh-rsa AAAA..."), as found in authorized_keys.
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "age1"):
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("age recipient %q: %w", shorten(s), err)
		}
		return r, nil
	case strings.HasPrefix(s, "ssh-"):
		r, err := agessh.ParseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("SSH recipient %q: %w", shorten(s), err)
		}
		return r, nil
	case s == "":
		return nil, errors.New("empty recipient: give an age public key (age1...) or an SSH public key (ssh-ed25519 ...)")
	}
	return nil, fmt.Errorf("recipient %q is neither an age public key (age1...) nor an SSH public key (ssh-ed25519 ..., ssh-rsa ...)", shorten(s))
}

// ParseRecipients parses every recipient; a file path is read as a list of
// recipients, one per line (# comments allowed), like age -R.
func ParseRecipients(list []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, s := range list {
		if fi, err := os.Stat(s); err == nil && fi.Mode().IsRegular() {
			rs, err := recipientsFile(s)
			if err != nil {
				return nil, err
			}
			out = append(out, rs...)
			continue
		}
		r, err := ParseRecipient(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("no recipients to encrypt to")
	}
	return out, nil
}

func recipientsFile(path string) ([]age.Recipient, error) {
	data, err := readLimited(path, maxIdentityFile)
	if err != nil {
		return nil, fmt.Errorf("read recipients file %s: %w", path, err)
	}
	var out []age.Recipient
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("recipients file %s lists no recipient", path)
	}
	return out, nil
}

// Encrypter returns the function bundle.Options.Encrypt wants: it wraps
// the archive's output in an age stream to the recipients.
func Encrypter(recipients []age.Recipient) func(io.Writer) (io.WriteCloser, error) {
	return func(dst io.Writer) (io.WriteCloser, error) {
		return age.Encrypt(dst, recipients...)
	}
}

// ReadIdentities reads an age identity file (age-keygen output, several
// keys allowed) or an unencrypted SSH private key.
func ReadIdentities(path string) ([]age.Identity, error) {
	data, err := readLimited(path, maxIdentityFile)
	if err != nil {
		return nil, fmt.Errorf("read identity file %s: %w", path, err)
	}
	if strings.Contains(string(data), "PRIVATE KEY-----") {
		id, err := agessh.ParseIdentity(data)
		if err != nil {
			return nil, fmt.Errorf("SSH identity %s: %w (passphrase-protected keys are not supported: decrypt with `age -d -i`)", path, err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(strings.NewReader(string(data)))
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return ids, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
