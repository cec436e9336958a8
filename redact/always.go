package redact

import (
	"regexp"
	"strings"
)

// unnamed applies the rules that need no secret name: URL userinfo, the
// body of a private key block on its BEGIN line, and alwaysPatterns.
func unnamed(l string) (string, int) {
	n, k := 0, 0
	if strings.Contains(l, "://") {
		l, k = urls(l)
		n += k
	}
	if loc := pemBegin.FindStringIndex(l); loc != nil {
		after := l[loc[1]:]
		e := strings.Index(after, "-----END ")
		if e < 0 {
			e = len(after)
		}
		if needsRedaction(after[:e]) {
			l = l[:loc[1]] + Marker + after[e:]
			n++
		}
	}
	for _, p := range alwaysPatterns {
		if containsAny(l, p.need) {
			l, k = always(l, p.re)
			n += k
		}
	}
	return l, n
}

// pemBegin matches the BEGIN line of a PEM private key block.
var pemBegin = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----`)

// alwaysPatterns find values that are secret whatever names them; group 1
// is the value. need lists substrings of which the line must hold one.
var alwaysPatterns = []struct {
	need []string
	re   *regexp.Regexp
}{
	// SMTP authentication with an initial response, as sent and as a
	// server may echo it: AUTH PLAIN <base64 of \0user\0password>.
	{[]string{"AUTH ", "auth ", "Auth ", "AUTH\t"}, regexp.MustCompile(`(?i:\bAUTH[ \t]+(?:PLAIN|LOGIN|XOAUTH2?|OAUTHBEARER|CRAM-MD5|DIGEST-MD5|SCRAM-SHA-[0-9]+(?:-PLUS)?|NTLM|GSSAPI))[ \t]+([^\s"'<>=][^\s"'<>]*)`)},
	// curl -u user:password, --user, --proxy-user, also as JSON/YAML list
	// items ("-u", "admin:x") in a compose healthcheck.
	{[]string{"-u"}, regexp.MustCompile(`(?:^|[\s"'\[,=])(?:-u|--user|--proxy-user)(?:[ \t]+|=|["'][ \t]*,[ \t]*["']?)["']?[^\s"':,\]/]*:([^\s"',\]]+)`)},
}

func containsAny(l string, subs []string) bool {
	for _, s := range subs {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// always replaces group 1 of every match of re.
func always(l string, re *regexp.Regexp) (string, int) {
	return markGroup(l, re, func(v string) bool { return needsRedaction(v) && !strings.HasPrefix(v, "//") })
}

// markGroup replaces the first submatch of every match of re on the line
// with Marker where secret(submatch) holds, and counts the replacements.
func markGroup(l string, re *regexp.Regexp, secret func(string) bool) (string, int) {
	ms := re.FindAllStringSubmatchIndex(l, -1)
	var b strings.Builder
	last, n := 0, 0
	for _, m := range ms {
		if !secret(l[m[2]:m[3]]) {
			continue
		}
		b.WriteString(l[last:m[2]])
		b.WriteString(Marker)
		last, n = m[3], n+1
	}
	if n == 0 {
		return l, 0
	}
	b.WriteString(l[last:])
	return b.String(), n
}

// urlUserinfo matches scheme://user:password@; the password may hold '@'.
var urlUserinfo = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@:"'<>]*:([^\s/?#"'<>]*)@`)

// urls redacts the password of every scheme://user:password@host on the
// line; the user name stays.
func urls(l string) (string, int) {
	return markGroup(l, urlUserinfo, needsRedaction)
}
