#!/bin/sh
# Install the named Debian packages that are not installed yet. As root directly, otherwise with sudo.
set -eu
missing=""
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else
    SUDO="sudo"
    echo "Cài các gói Debian / installing Debian packages (sudo):$missing"
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix asks how to configure itself; the tests configure their own instance, so: none.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
