#!/bin/sh
# pbxagent post-installation script (deb postinst, rpm %post).
#
# deb: $1 = configure (with the previously configured version in $2 on an
#      upgrade), or abort-upgrade | abort-remove | abort-deconfigure.
# rpm: $1 = 1 on a first install, 2 or more on an upgrade.
#
# Creates the state folder and the bundle signing key when missing, enables
# the service (also offline: a chroot or an image gets it enabled), and only
# where systemd is running starts it (restarts it on an upgrade).
set -e

STATE_DIR=/var/lib/pbxagent
KEY="$STATE_DIR/pbxagent.key"
PUB="$STATE_DIR/pbxagent.pub"
CONFIG=/etc/pbxagent/pbxagent.yaml
UNIT=pbxagent.service
MARKER="$STATE_DIR/.enabled-before-remove"

action=install
case "$1" in
configure)
	[ -n "$2" ] && action=upgrade
	;;
abort-upgrade | abort-remove | abort-deconfigure)
	action=abort
	;;
[0-9]*)
	[ "$1" -ge 2 ] && action=upgrade
	;;
esac

# The package was removed (which disabled the service) and is now installed
# again, or the removal failed: enable the service again.
reenable=no
if [ -e "$MARKER" ]; then
	reenable=yes
	rm -f "$MARKER"
fi

umask 077
mkdir -p "$STATE_DIR"
chmod 0700 "$STATE_DIR"
[ -d /etc/pbxagent ] && chmod 0700 /etc/pbxagent
[ -f "$CONFIG" ] && chmod 0600 "$CONFIG"

# `pbxagent keygen` refuses to replace a key: only ask for one when none.
created=no
if [ ! -e "$KEY" ]; then
	if pbxagent keygen --config "$CONFIG" >/dev/null 2>&1; then
		created=yes
	else
		echo "pbxagent: could not create the signing key; run 'pbxagent keygen' after fixing $CONFIG" >&2
	fi
fi

# Enabling works on files, so it is done whether or not systemd runs: an
# image built offline (debootstrap, an image builder, a chroot) boots with
# the service enabled.
#  - dpkg: deb-systemd-helper, as debhelper's postinst does: enabled on a
#    first install, kept as the administrator left it on an upgrade
#    (was-enabled), enabled again on a reinstall after a removal.
#  - rpm: the presets decide (systemctl preset, as %systemd_post does); a
#    first install starts nothing (the Fedora/RHEL convention).
#  - dpkg without deb-systemd-helper: the link `systemctl enable` makes.
is_rpm=no
case "$1" in [0-9]*) is_rpm=yes ;; esac
if [ "$is_rpm" = yes ]; then
	if [ "$action" = install ] && command -v systemctl >/dev/null 2>&1; then
		systemctl --no-reload preset "$UNIT" >/dev/null 2>&1 || true
	fi
elif command -v deb-systemd-helper >/dev/null 2>&1; then
	deb-systemd-helper unmask "$UNIT" >/dev/null || true
	if deb-systemd-helper --quiet was-enabled "$UNIT"; then
		deb-systemd-helper enable "$UNIT" >/dev/null || true
	else
		deb-systemd-helper update-state "$UNIT" >/dev/null || true
	fi
elif [ "$action" = install ] || [ "$reenable" = yes ]; then
	mkdir -p /etc/systemd/system/multi-user.target.wants
	ln -sf "/lib/systemd/system/$UNIT" "/etc/systemd/system/multi-user.target.wants/$UNIT"
fi

# Starting needs a running systemd.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	case "$action" in
	install)
		if [ "$is_rpm" = no ] && systemctl is-enabled --quiet "$UNIT" 2>/dev/null; then
			systemctl start "$UNIT" || echo "pbxagent: the service did not start; see 'systemctl status pbxagent' and 'journalctl -u pbxagent'" >&2
		fi
		;;
	upgrade | abort)
		# Restart only a service that runs (systemctl try-restart), or
		# start an enabled one after a failed removal.
		if systemctl is-enabled --quiet "$UNIT" 2>/dev/null; then
			systemctl restart "$UNIT" || echo "pbxagent: the service did not restart; see 'systemctl status pbxagent' and 'journalctl -u pbxagent'" >&2
		fi
		;;
	esac
	started=yes
else
	started=no
fi

[ "$action" = abort ] && exit 0

if [ -r "$PUB" ]; then
	if [ "$created" = yes ]; then
		echo "pbxagent: created the bundle signing key $KEY (mode 0600)"
	fi
	echo "pbxagent: public key (give it to whoever verifies this host's bundles):"
	sed -n 2p "$PUB"
fi

if [ "$action" = install ]; then
	cat <<EOT

pbxagent is installed. Next steps:
  1. Set the mail server for alerts (smtp:) in $CONFIG
  2. pbxagent config validate
  3. pbxagent alert test
  4. pbxagent status

The service keeps a flight recorder of the PBX's SIP (whole messages, which
hold phone numbers), RTCP and ICMP, and RTP headers without audio, in
$STATE_DIR/recorder: at most 24 hours and 1 GiB, below the disk warning
level. Turn it off with "recorder: {enabled: false}" in $CONFIG.
EOT
	if [ "$started" = yes ]; then
		echo "  5. systemctl reload pbxagent (the service re-reads the file; an invalid one is refused)"
	else
		echo "  5. systemctl start pbxagent (systemd is not running here: the service is enabled but was not started)"
	fi
fi
exit 0
