#!/usr/bin/env bash
# The README's second command (and CI's): installs what is missing, builds everything, and runs
# every test (unit, integration against real redis-servers, end to end on the built binaries).
# Extra arguments go to ctest, e.g. `-L unit` or `-R Redis`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HERALD_BUILD_DIR:-$root/build}

"$root/deploy/build.sh"
cd "$build"
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@"
