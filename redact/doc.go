// Package redact removes secrets from configuration text and command lines
// before pbxagent lets them leave the host.
//
// It is a package of its own because every path that copies PBX data out of
// the machine must apply the same rules: the support bundle (system.ini,
// .configure_pbx, docker env files, the agent's own YAML), the agent's logs,
// the e-mails it sends and the commands the CLI prints. One implementation
// means a fix to a rule reaches all of them at once, and one test suite
// (including a fuzz test) guards all of them.
//
// # What is redacted
//
// The text is processed line by line, without knowing its format. On each
// line the value of every secret key is replaced by [Marker]:
//
//   - INI, shell and env files: "key = value", "KEY=value",
//     "export KEY=\"value\"", also in commented-out lines ("# password = x");
//   - YAML: "key: value", "- key: value", block scalars ("key: |") and
//     lists ("key:" followed by "- item" lines, "key: [a, b]");
//   - JSON: every "\"key\": value" pair on the line, and string arrays;
//   - HTTP headers: "Authorization: Bearer xyz" keeps the scheme;
//   - inline pairs anywhere on a line: "key=value", "key: value",
//     "--key=value", "--key value", "<key>value</key>";
//   - URLs anywhere on a line: the password of "scheme://user:pass@host"
//     (the user name stays) and secret query parameters ("?token=x");
//   - PEM private key blocks ("-----BEGIN ... PRIVATE KEY-----").
//
// Which keys are secret is decided by [IsSecretKey]; see its documentation
// for the exact rule. The key, separator, quotes and any trailing comment
// are kept, so the file stays readable and parseable, and the number of
// lines never changes. Empty values, null, values already equal to [Marker]
// and values made only of '*' have nothing to hide: they are left alone and
// not counted. Redacting redacted output changes nothing and counts zero.
//
// # Limits
//
// The rules are heuristics tuned for PortSIP PBX hosts, biased towards
// redacting too much rather than too little:
//
//   - the unquoted value of a key at the start of a line runs to the end of
//     the line, as in INI and docker env files, so "PGPASSWORD=x psql ..."
//     loses the command too; only a '#' (or, outside YAML, a ';') preceded
//     by white space ends it, as a kept comment;
//   - a quoted value without its closing quote, and a PEM block without its
//     END line, are redacted up to the closing quote or END line, possibly
//     to the end of the text;
//   - inline pairs in the middle of a line end at white space, so there an
//     unquoted value with spaces is only partly redacted;
//   - short command-line flags such as "-p x" are ambiguous and are not
//     secrets (except the user:password value of "-u" and "--user").
package redact
