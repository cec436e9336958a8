#!/bin/sh
# pbxagent post-installation script (deb postinst, rpm %post).
#
# deb: $1 = configure (with the previously configured version in $2 on an
#      upgrade), or abort-upgrade | abort-remove | abort-deconfigure.
# rpm: $1 = 1 on a first install, 2 or more on an upgrade.
#
# Creates the state folder and the bundle signing key when missing, then,
# only where systemd is running, reloads it and enables and starts the
# service (restarts it on an upgrade). In a chroot or a container without
# systemd nothing is started: run `systemctl enable --now pbxagent` later.
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

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	[ "$reenable" = yes ] && { systemctl enable "$UNIT" >/dev/null 2>&1 || true; }
	case "$action" in
	install)
		systemctl enable "$UNIT" >/dev/null 2>&1 || true
		systemctl start "$UNIT" || echo "pbxagent: the service did not start; see 'journalctl -u pbxagent'" >&2
		;;
	upgrade)
		# Restart only a service the administrator has enabled.
		if systemctl is-enabled --quiet "$UNIT" 2>/dev/null; then
			systemctl restart "$UNIT" || echo "pbxagent: the service did not restart; see 'journalctl -u pbxagent'" >&2
		fi
		;;
	abort)
		if systemctl is-enabled --quiet "$UNIT" 2>/dev/null; then
			systemctl start "$UNIT" || true
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
EOT
	if [ "$started" = yes ]; then
		echo "  5. systemctl restart pbxagent (the service reads the file when it starts)"
	else
		echo "  5. systemctl enable --now pbxagent (systemd is not running here: the service was not started)"
	fi
fi
exit 0
