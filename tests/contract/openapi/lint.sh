#!/usr/bin/env bash
# Lints proto/openapi.yaml with the pinned @redocly/cli (installed by install.sh) and its
# recommended rules (redocly.yaml beside this script): lint.sh [TOOLS_DIR]. Fails on any error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
tools=${1:-$root/build/openapi-tools}
"$here/install.sh" "$tools"
cd "$root"
exec "$tools/node_modules/.bin/redocly" lint --config "$here/redocly.yaml" \
  --format stylish proto/openapi.yaml
