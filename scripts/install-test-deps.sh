#!/usr/bin/env bash
# Debian packages the test suite uses: real XMPP clients written by others,
# Chromium for the web client test, and
# PostgreSQL for the storage contract suite. Skips apt when all are present.
set -euo pipefail
PACKAGES=(python3-slixmpp sendxmpp go-sendxmpp postgresql chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
