#!/usr/bin/env bash
# Installs the Debian 12 packages Herald builds, tests and runs with. Idempotent: a package that
# is already installed is skipped, and apt is not touched at all when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache clang-format
  libboost1.81-dev libboost-program-options1.81-dev libboost-url1.81-dev
  libhiredis-dev libsimdjson-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
  libsystemd-dev libssl-dev libcurl4-openssl-dev
  redis-server redis-tools redis-sentinel
  geoip-database libgeoip-dev libmaxminddb-dev libutf8proc-dev libidn2-dev python3-jsonschema
  python3-yaml curl procps wrk clang-14 libfuzzer-14-dev libpugixml-dev
  prometheus chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm installs the OpenAPI linter (tests/contract/openapi/install.sh). Debian's npm brings Debian's
# nodejs; a node that already has its own npm (a nodejs from elsewhere) is left alone.
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "herald: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# A redis-server package must not start a system-wide server on a build machine.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
