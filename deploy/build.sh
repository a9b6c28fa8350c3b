#!/usr/bin/env bash
# Configures and builds Herald into build/ (or $HERALD_BUILD_DIR), after installing what the
# machine lacks. Extra arguments are ninja targets; none builds everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HERALD_BUILD_DIR:-$root/build}

"$root/deploy/install-deps.sh"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" "$@"
