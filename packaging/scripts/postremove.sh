#!/bin/sh
# pbxagent post-removal script (deb postrm, rpm %postun).
#
# deb: $1 = remove | purge | upgrade | failed-upgrade | abort-install |
#      abort-upgrade | disappear.
# rpm: $1 = 0 when the package is erased, 1 or more on an upgrade.
#
# remove (and rpm erase) keeps the configuration and the state folder: the
# signing key, the alert queue and the bundles. purge (dpkg -P) removes the
# agent's own files, as `pbxagent uninstall --purge` does: the key pair, the
# alert state and queue, the last round, the API marker and the support
# bundles; a folder is removed only when nothing else is left in it. dpkg
# itself removes the configuration file (a conffile) on purge.
set -e

STATE_DIR=/var/lib/pbxagent

reload() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload || true
		systemctl reset-failed pbxagent.service >/dev/null 2>&1 || true
	fi
}

# deb-systemd-helper's bookkeeping, as debhelper's postrm: a removed
# package's unit is masked (its enablement is remembered), a purged one is
# forgotten.
dsh() {
	command -v deb-systemd-helper >/dev/null 2>&1 && deb-systemd-helper "$@" >/dev/null 2>&1 || true
}

case "$1" in
purge)
	dsh purge pbxagent.service
	dsh unmask pbxagent.service
	rm -f "$STATE_DIR/pbxagent.key" "$STATE_DIR/pbxagent.pub" \
		"$STATE_DIR/alert-state.json" "$STATE_DIR/api-login-rejected.json" \
		"$STATE_DIR/last-round.json" "$STATE_DIR/cdr-cursor.json" "$STATE_DIR/.enabled-before-remove"
	# Temporary files of an atomic write the agent did not finish (it was
	# killed while writing): ".<name>.<random>.tmp".
	for f in alert-state.json api-login-rejected.json last-round.json cdr-cursor.json; do
		rm -f "$STATE_DIR/.$f".*.tmp
	done
	rm -f "$STATE_DIR"/queue/*.mail.json "$STATE_DIR"/queue/.*.mail.json.*.tmp "$STATE_DIR"/bundles/pbx-support-*
	rm -f "$STATE_DIR"/queue/alertmanager/*.event.json "$STATE_DIR"/queue/webhook/*.event.json
	rmdir "$STATE_DIR/queue/alertmanager" "$STATE_DIR/queue/webhook" 2>/dev/null || true
	# The flight recorder's ring (seg-<19 digits>.pcapng[.gz], .open,
	# .idx.json, a repair's temporary file), its status and control
	# socket; the upload states.
	rm -f "$STATE_DIR"/recorder/seg-[0-9]*.pcapng "$STATE_DIR"/recorder/seg-[0-9]*.pcapng.open \
		"$STATE_DIR"/recorder/seg-[0-9]*.pcapng.gz "$STATE_DIR"/recorder/seg-[0-9]*.pcapng.gz.open \
		"$STATE_DIR"/recorder/.seg-[0-9]*.pcapng*.tmp \
		"$STATE_DIR"/recorder/seg-[0-9]*.idx.json "$STATE_DIR"/recorder/status.json \
		"$STATE_DIR"/recorder/.status.json.*.tmp "$STATE_DIR"/recorder/control.sock \
		"$STATE_DIR"/uploads/[0-9a-f]*.json "$STATE_DIR"/auto-bundles/pbx-support-*
	rmdir "$STATE_DIR/queue" "$STATE_DIR/bundles" "$STATE_DIR/recorder" "$STATE_DIR/uploads" \
		"$STATE_DIR/auto-bundles" 2>/dev/null || true
	rmdir "$STATE_DIR" 2>/dev/null || echo "pbxagent: kept $STATE_DIR: it holds files pbxagent did not write" >&2
	rmdir /etc/pbxagent 2>/dev/null || true
	reload
	;;
remove)
	dsh mask pbxagent.service
	reload
	;;
0)
	reload
	;;
esac
exit 0
