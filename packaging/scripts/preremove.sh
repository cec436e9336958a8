#!/bin/sh
# pbxagent pre-removal script (deb prerm, rpm %preun).
#
# deb: $1 = remove | deconfigure (stop), upgrade | failed-upgrade (keep).
# rpm: $1 = 0 when the package is erased (stop), 1 or more on an upgrade.
#
# On removal, stops the service where systemd is running (rpm: also
# disables it, as %systemd_preun). On an upgrade the service keeps running;
# the new package's postinstall restarts it.
set -e

UNIT=pbxagent.service
# Remembers that the service was enabled, so that installing the package
# again after a removal (dpkg then runs postinstall as for an upgrade)
# enables and starts it again.
MARKER=/var/lib/pbxagent/.enabled-before-remove

case "$1" in
remove | deconfigure)
	# dpkg: stop; the links stay (postrm masks them) so that installing
	# the package again finds the service as the administrator left it.
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		if systemctl is-enabled --quiet "$UNIT" 2>/dev/null && [ -d /var/lib/pbxagent ]; then
			: >"$MARKER" || true
		fi
		systemctl stop "$UNIT" || true
	fi
	;;
0)
	# rpm erase: as %systemd_preun, disable and stop.
	if command -v systemctl >/dev/null 2>&1; then
		if [ -d /run/systemd/system ]; then
			systemctl --no-reload disable --now "$UNIT" >/dev/null 2>&1 || true
		else
			systemctl --no-reload disable "$UNIT" >/dev/null 2>&1 || true
		fi
	fi
	;;
esac
exit 0
