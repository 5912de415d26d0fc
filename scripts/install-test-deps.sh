#!/usr/bin/env bash
# Debian packages the test suite uses: real XMPP clients written by others
# (python3-aiohttp: slixmpp's HTTP upload plugin needs it),
# Chromium for the web client test, clamd for the upload scanner (started per
# test file with its own tiny signature database, never the system's), and
# PostgreSQL for the storage contract suite, zip for password-protected test
# archives (zip -P). Skips apt when all are present.
set -euo pipefail
PACKAGES=(python3-slixmpp python3-aiohttp sendxmpp go-sendxmpp postgresql chromium clamav-daemon zip)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
