package redact

import "strings"

// strongWords are secret wherever they appear in the joined, lower-cased key
// name, so glued names such as "dbpassword" or "SMTPPASSWORD" match too.
var strongWords = []string{
	"password", "passwd", "passphrase", "secret", "token", "credential",
	"apikey", "privatekey", "accesskey",
}

// weakWords are secret only when they equal one word part of the key name,
// or several consecutive parts joined ("session" + "id"). As substrings they
// would hit harmless names such as "author" or "keyboard".
var weakWords = map[string]bool{
	"auth": true, "authorization": true, "pwd": true, "pw": true,
	"cred": true, "creds": true, "psk": true,
	"sessionid": true, "sessionkey": true,
	"encryptionkey": true, "encryptkey": true, "signingkey": true,
	"signkey": true, "masterkey": true, "sharedkey": true, "hmackey": true,
	"licensekey": true, "appkey": true, "authkey": true, "clientkey": true,
	"aeskey": true, "jwtkey": true,
}

// notSecretFirst are first word parts that make a name a switch or a limit
// about a secret rather than the secret itself ("no_password",
// "ask_pass", "max_tokens").
var notSecretFirst = map[string]bool{
	"no": true, "ask": true, "prompt": true, "require": true,
	"requires": true, "use": true, "allow": true, "enable": true,
	"disable": true, "skip": true, "show": true, "hide": true, "has": true,
	"is": true, "save": true, "remember": true, "max": true, "min": true,
	"num": true,
}

// notSecretLast are last word parts that make a name describe a secret
// (where it is, how long it lives, who uses it) rather than hold it:
// "password_file", "token_url", "auth_user", "token_expiry".
var notSecretLast = map[string]bool{
	"file": true, "files": true, "path": true, "paths": true, "dir": true,
	"dirs": true, "directory": true, "folder": true, "url": true,
	"uri": true, "endpoint": true, "enabled": true, "enable": true,
	"disabled": true, "required": true, "type": true, "mode": true,
	"method": true, "length": true, "len": true, "size": true, "ttl": true,
	"timeout": true, "expiry": true, "expires": true, "expire": true,
	"expiration": true, "lifetime": true, "policy": true, "algorithm": true,
	"algo": true, "stdin": true, "prompt": true, "env": true, "fd": true,
	"user": true, "username": true, "login": true, "name": true,
	"realm": true, "host": true, "server": true, "port": true,
	"address": true, "email": true, "scope": true, "scopes": true,
	"issuer": true, "audience": true, "header": true, "prefix": true,
	"format": true, "count": true, "retries": true, "attempts": true,
	"interval": true,
}

// IsSecretKey reports whether a configuration key, environment variable or
// flag name names a secret value. The rule, applied in this order:
//
//  1. The name is split into lower-case word parts at every character that
//     is not an ASCII letter or digit ('_', '-', '.', ' ', ...), at camelCase
//     boundaries ("dbPassword", "APIKey" -> "api", "key") and between letters
//     and digits; parts made only of digits are dropped.
//  2. A name of two or more parts is NOT secret when its first part is a
//     switch or limit word (no, ask, prompt, require(s), use, allow, enable,
//     disable, skip, show, hide, has, is, save, remember, max, min, num) or
//     its last part says where or what the secret is rather than being it
//     (file, path, dir, directory, folder, url, uri, endpoint, user,
//     username, login, name, host, server, port, type, mode, method, length,
//     size, ttl, timeout, expiry, enabled, stdin, env, ... see
//     notSecretLast). So "password_file", "DB_PASSWORD_FILE", "token_url",
//     "auth_user", "no-password" and "--password-stdin" are not secret.
//  3. The exact name "pwd" is not secret: it is the shell's working
//     directory. "db_pwd" is.
//  4. The name is secret when the joined parts contain password, passwd,
//     passphrase, secret, token, credential, apikey, privatekey or accesskey
//     ("superuser_password", "dbpassword", "client_secret", "refresh_token",
//     "api-key", "credentials").
//  5. The name is secret when its last part is "pass" ("db_pass",
//     "smtpPass"), but not when "pass" comes first ("pass_through").
//     "passive_mode" does not match at all.
//  6. The name is secret when one part, or several consecutive parts joined,
//     equal auth, authorization, pwd, pw, cred, creds, psk, sessionid,
//     sessionkey, or a qualified key: encryptionkey, signingkey, masterkey,
//     sharedkey, hmackey, licensekey, appkey, authkey, clientkey, aeskey,
//     jwtkey ("session_id", "X-Auth-Token", "license_key"). "author",
//     "authority" and "oauth" do not match: "auth" must be a whole part.
//  7. The exact name "key" is secret (the "[apigateway] key = ..." of
//     system.ini); "key" inside a longer name only counts in the compounds
//     above, so "public_key", "primary_key" and "sort_key" are not secret.
//
// A secret key whose name ends in "key" ("secret_key", "private_key") holding
// a value that looks like a file path ("/etc/portsip/key.pem") is not
// redacted, since the path is not the key; see the Redactor methods.
func IsSecretKey(name string) bool {
	return secretParts(splitKey(name), nil)
}

// secretParts applies the IsSecretKey rule to split parts, plus extra words
// (already normalised) that match like weak words.
func secretParts(parts []string, extra []string) bool {
	n := len(parts)
	if n == 0 {
		return false
	}
	if n > 1 && (notSecretFirst[parts[0]] || notSecretLast[parts[n-1]]) {
		return false
	}
	joined := strings.Join(parts, "")
	switch {
	case joined == "pwd":
		return false
	case joined == "key", parts[n-1] == "pass":
		return true
	}
	for _, w := range strongWords {
		if strings.Contains(joined, w) {
			return true
		}
	}
	for i := range parts {
		run := ""
		for j := i; j < n && len(run) < 64; j++ {
			run += parts[j]
			if weakWords[run] {
				return true
			}
			for _, w := range extra {
				if run == w {
					return true
				}
			}
		}
	}
	return false
}

// splitKey splits a key name into lower-case word parts; see IsSecretKey.
func splitKey(name string) []string {
	var parts []string
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			p := name[start:end]
			if strings.Trim(p, "0123456789") != "" {
				parts = append(parts, strings.ToLower(p))
			}
		}
		start = -1
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		p := name[i-1]
		switch {
		case isDigit(c) != isDigit(p):
			// letter/digit boundary: "pass2", "s3secret".
			flush(i)
			start = i
		case isUpper(c) && isLower(p):
			// "dbPassword" -> "db" | "Password".
			flush(i)
			start = i
		case isLower(c) && isUpper(p) && i-1 > start:
			// "APIKey" -> "API" | "Key": the last upper starts the new part.
			flush(i - 1)
			start = i - 1
		}
	}
	flush(len(name))
	return parts
}

// normalizeWord lower-cases w and keeps only its letters, so an extra key
// word "license_key" matches the parts "license" + "key". Digits go too:
// word parts never hold them (see splitKey).
func normalizeWord(w string) string {
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if c := lower(w[i]); isLower(c) {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isUpper(c) || isLower(c) }

func lower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}
