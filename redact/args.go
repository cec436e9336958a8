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
		a := out[i]
		name, val, hasEq, ok := parseFlag(a)
		switch {
		case ok && len(name) > 1 && r.isSecret(name):
			if hasEq {
				if nv, changed := r.redactValue(name, val); changed {
					out[i] = a[:len(a)-len(val)] + nv
					count++
				}
				continue
			}
			if i+1 < len(out) && !isFlag(out[i+1]) {
				i++
				if nv, changed := r.redactValue(name, out[i]); changed {
					out[i] = nv
					count++
				}
			}
			continue
		case ok && (name == "u" || name == "user" || name == "proxy-user"):
			j := i
			if !hasEq {
				j = i + 1
			}
			if j >= len(out) {
				continue
			}
			v := out[j]
			prefix := ""
			if hasEq {
				prefix, v = a[:len(a)-len(val)], val
			}
			if u, pw, found := strings.Cut(v, ":"); found && needsRedaction(pw) {
				out[j] = prefix + u + ":" + Marker
				count++
			}
			i = j
			continue
		}
		var n int
		out[i], n = r.String(a)
		count += n
	}
	return out, count
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
