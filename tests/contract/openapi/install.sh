#!/usr/bin/env bash
# Installs the OpenAPI validator (npm @redocly/cli, exact version) into a folder of its own under
# the build directory: install.sh [TOOLS_DIR] (default build/openapi-tools). Skipped when that
# version is already there. Needs npm (deploy/install-deps.sh installs it) and npm's registry.
set -euo pipefail

version=1.34.20
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
tools=${1:-$root/build/openapi-tools}
bin=$tools/node_modules/.bin/redocly

if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "$version" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "openapi: npm is missing; run deploy/install-deps.sh" >&2
  exit 1
fi
mkdir -p "$tools"
# A package.json of its own, so that npm installs here and not in a parent folder's project.
[ -f "$tools/package.json" ] || echo '{"name": "herald-openapi-tools", "private": true}' >"$tools/package.json"
echo "openapi: installing @redocly/cli@$version into $tools" >&2
npm install --prefix "$tools" --no-audit --no-fund --save-exact --loglevel=error \
  "@redocly/cli@$version" >&2
"$bin" --version >/dev/null
