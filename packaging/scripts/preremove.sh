#!/bin/sh
# pbxagent pre-removal script (deb prerm, rpm %preun).
#
# deb: $1 = remove | deconfigure (stop), upgrade | failed-upgrade (keep).
# rpm: $1 = 0 when the package is erased (stop), 1 or more on an upgrade.
#
# On removal, stops and disables the service where systemd is running. On an
# upgrade the service keeps running; the new package's postinstall restarts it.
set -e

UNIT=pbxagent.service
# Remembers that the service was enabled, so that installing the package
# again after a removal (dpkg then runs postinstall as for an upgrade)
# enables and starts it again.
MARKER=/var/lib/pbxagent/.enabled-before-remove

case "$1" in
remove | deconfigure | 0)
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		if systemctl is-enabled --quiet "$UNIT" 2>/dev/null && [ -d /var/lib/pbxagent ]; then
			: >"$MARKER" || true
		fi
		systemctl stop "$UNIT" || true
		systemctl disable "$UNIT" >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
