package redact

import "strings"

// Args returns a redacted copy of a command line (program name and
// arguments); args is not modified. count is the number of values
// redacted.
//
// A flag whose name is secret by IsSecretKey has its value redacted, in
// both the "--name=value" and the "--name value" forms, with one or two
// leading dashes ("-password x" is a Go-style long flag). In the "--name
// value" form the next argument is taken as the value unless it is itself
// a long flag ("--x") or a short flag ("-x"). Single-letter flags such as
// "-p" are too ambiguous to redact, except that the password of a
// "user:password" value of "-u", "--user" and "--proxy-user" (curl, wget)
// is redacted. Every other argument is redacted like a line of text (see
// String), which covers "NAME=value" environment assignments, URLs with
// credentials and "Authorization: Bearer ..." headers.
func (r *Redactor) Args(args []string) (out []string, count int) {
	out = make([]string, len(args))
	for i, a := range args {
		// Known secret values first, so the flag rules below see what a
		// second pass would see.
		var n int
		out[i], n = r.values(a)
		count += n
	}
	for i := 0; i < len(out); i++ {
		var n int
		name, val, hasEq, ok := parseFlag(out[i])
		switch {
		case ok && len(name) > 1 && r.isSecret(name):
			i, n = r.secretFlag(out, i, name, val, hasEq)
		case ok && (name == "u" || name == "user" || name == "proxy-user"):
			i, n = userFlag(out, i, val, hasEq)
		default:
			out[i], n = r.String(out[i])
		}
		count += n
	}
	return out, count
}

// secretFlag redacts the value of the secret flag out[i], held in the
// argument ("--name=value") or in the next one unless that is a flag. It
// returns the index of the last argument used and the count.
func (r *Redactor) secretFlag(out []string, i int, name, val string, hasEq bool) (int, int) {
	if hasEq {
		a := out[i]
		if nv, changed := r.redactValue(name, val); changed {
			out[i] = a[:len(a)-len(val)] + nv
			return i, 1
		}
		return i, 0
	}
	if i+1 >= len(out) || isFlag(out[i+1]) {
		return i, 0
	}
	if nv, changed := r.redactValue(name, out[i+1]); changed {
		out[i+1] = nv
		return i + 1, 1
	}
	return i + 1, 0
}

// userFlag redacts the password of the "user:password" value of the flag
// out[i] (-u, --user, --proxy-user), held in the argument or the next one.
// It returns the index of the last argument used and the count.
func userFlag(out []string, i int, val string, hasEq bool) (int, int) {
	j, prefix, v := i, "", val
	if hasEq {
		prefix = out[i][:len(out[i])-len(val)]
	} else {
		j++
		if j >= len(out) {
			return i, 0
		}
		v = out[j]
	}
	if u, pw, found := strings.Cut(v, ":"); found && needsRedaction(pw) {
		out[j] = prefix + u + ":" + Marker
		return j, 1
	}
	return j, 0
}

// parseFlag splits "-name", "--name" or "--name=value".
func parseFlag(a string) (name, val string, hasEq, ok bool) {
	s, found := strings.CutPrefix(a, "-")
	if !found {
		return "", "", false, false
	}
	s = strings.TrimPrefix(s, "-")
	name, val, hasEq = strings.Cut(s, "=")
	if name == "" || !isAlnum(name[0]) || isDigit(name[0]) {
		return "", "", false, false
	}
	return name, val, hasEq, true
}

// isFlag reports whether a is a long flag or a one-letter short flag, which
// cannot be the value of the flag before it.
func isFlag(a string) bool {
	if strings.HasPrefix(a, "--") && len(a) > 2 {
		return true
	}
	return len(a) == 2 && a[0] == '-' && isAlnum(a[1]) && !isDigit(a[1])
}
