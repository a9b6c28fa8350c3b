#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs heraldd in the
# foreground on the embedded default (its own redis-server under .herald/ in the checkout,
# HTTP on 127.0.0.1:8080 unless HERALD_HTTP_LISTEN says otherwise). Ctrl-C stops it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${HERALD_BUILD_DIR:-$root/build}

"$root/deploy/build.sh" heraldd herald

export HERALD_STATE_DIR=${HERALD_STATE_DIR:-$root/.herald/state}
export HERALD_HTTP_LISTEN=${HERALD_HTTP_LISTEN:-127.0.0.1:8080}
mkdir -p "$HERALD_STATE_DIR"
cat <<MSG
heraldd: state in $HERALD_STATE_DIR, HTTP on http://$HERALD_HTTP_LISTEN
  liveness:   curl -s http://$HERALD_HTTP_LISTEN/healthz
  readiness:  curl -s http://$HERALD_HTTP_LISTEN/readyz
  enqueue:    HERALD_STATE_DIR=$HERALD_STATE_DIR $build/daemon/herald enqueue $root/proto/examples/noop.job.json --watch
  status:     HERALD_STATE_DIR=$HERALD_STATE_DIR $build/daemon/herald status TASK_ID
  over HTTP:  set HERALD_TOKENS_FILE (lines "ACCOUNT SHA256_OF_TOKEN"), then
              curl -s -H 'Authorization: Bearer TOKEN' 'http://$HERALD_HTTP_LISTEN/tasks/status?task_id=TASK_ID'
  stop:       Ctrl-C (or SIGTERM): heraldd drains and stops its redis-server
MSG
exec "$build/daemon/heraldd" "$@"
