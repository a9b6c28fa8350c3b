#!/usr/bin/env bash
# Runs every benchmark and prints their figures:
#   1. builds heraldd, herald and the benchmarks (deploy/build.sh, into build/ or $HERALD_BUILD_DIR);
#   2. installs the peer queues (npm ci in tests/bench/peers) when they are missing or stale;
#   3. redis_client_bench: Herald's Redis client beside redis-benchmark;
#   4. queue_bench (when built): heraldd's enqueue and drain rates, commands per job, RSS, ...;
#      import_bench: profiles imported per second, commands and memory per profile, lookups;
#      http_client_bench: the outbound HTTP client's requests per second beside wrk -c 64;
#      http_api_bench: GET /tasks/status under wrk -c 64 beside redis-benchmark -t get -c 64, and
#      import_and_start_batch_task requests of 100 profiles;
#      delivery_bench: import_and_start, start and leadconverter_bot through heraldd, beside the
#      BullMQ delivery peer (installed into $build/peer-node) and wrk -c 64;
#   5. BullMQ and bee-queue with the same N no-op jobs, each on its own fresh redis-server,
#      and a table of their figures with the goals heraldd is held to (2x the faster peer).
#
#   tests/bench/run.sh
#   HERALD_BENCH_JOBS=10000 tests/bench/run.sh     # a quick run (N defaults to 100000)
#   HERALD_BENCH_REDIS=unix tests/bench/run.sh     # peers over a unix socket instead of TCP
#
# Bounded: every step runs under `timeout`, everything started here is stopped on exit, and
# nothing but 127.0.0.1 (and the npm registry, for step 2) is talked to.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
export HERALD_BUILD_DIR=${HERALD_BUILD_DIR:-$root/build}
build=$HERALD_BUILD_DIR
peers=$root/tests/bench/peers
export HERALD_BENCH_JOBS=${HERALD_BENCH_JOBS:-100000}
jobs=$HERALD_BENCH_JOBS
transport=${HERALD_BENCH_REDIS:-tcp}
step_timeout=${HERALD_BENCH_TIMEOUT:-600}

case $jobs in '' | *[!0-9]* | 0) echo "run.sh: HERALD_BENCH_JOBS must be a positive integer" >&2; exit 2 ;; esac
case $transport in tcp | unix) ;; *) echo "run.sh: HERALD_BENCH_REDIS must be tcp or unix" >&2; exit 2 ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench.XXXXXX")
step_pid=""  # the `timeout` of the step running now
redis_pids=()
cleanup() {
  local pid
  for pid in $step_pid "${redis_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $step_pid "${redis_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs one step under `timeout`. In the background and waited for, so that a signal to this
# script runs the trap at once (bash defers traps while a foreground command runs) and the
# trap's TERM to `timeout` reaches the step (timeout forwards it).
bounded() {
  local limit=$1 rc=0
  shift
  timeout "$limit" "$@" &
  step_pid=$!
  wait "$step_pid" || rc=$?
  step_pid=""
  return "$rc"
}

section() { printf '\n== %s\n' "$*"; }

# 1. Build what the benchmarks run: the binaries and every tests/bench/*.cpp (one target each),
#    not the test suites, so a broken unit test does not stop a benchmark.
targets=(heraldd herald)
for src in "$root"/tests/bench/*.cpp; do
  [ -e "$src" ] && targets+=("$(basename "$src" .cpp)")
done
section "build ($build: ${targets[*]})"
bounded "${HERALD_BENCH_BUILD_TIMEOUT:-1800}" "$root/deploy/build.sh" "${targets[@]}" >&2

# 2. Peers' packages: npm ci when node_modules is missing or older than the lock.
command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "run.sh: node and npm are needed for the peer benchmarks (Node 20 or later)" >&2; exit 1; }
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
  { echo "run.sh: redis-server and redis-cli are needed (deploy/install-deps.sh installs them)" >&2; exit 1; }
if [ ! -f "$peers/node_modules/.package-lock.json" ] ||
   { [ -f "$peers/package-lock.json" ] && [ "$peers/package-lock.json" -nt "$peers/node_modules/.package-lock.json" ]; }; then
  section "npm (tests/bench/peers)"
  if [ -f "$peers/package-lock.json" ]; then npm_cmd=ci; else npm_cmd=install; fi
  cd "$peers"
  bounded "$step_timeout" npm "$npm_cmd" --no-audit --no-fund --loglevel=error >&2
  cd "$root"
fi

# 3. The Redis client.
section "redis_client_bench"
bounded "$step_timeout" "$build/tests/bench/redis_client_bench"

# 4. heraldd's queue benchmark, once it exists.
if [ -x "$build/tests/bench/queue_bench" ]; then
  section "queue_bench (N=$jobs)"
  bounded "$step_timeout" "$build/tests/bench/queue_bench"
else
  section "queue_bench: not built ($build/tests/bench/queue_bench); skipped"
fi

# 4b. Profile import through heraldd, and lookups at 10,000 and 1,000,000 profiles.
if [ -x "$build/tests/bench/import_bench" ]; then
  section "import_bench"
  bounded "$step_timeout" "$build/tests/bench/import_bench"
fi

# 4c. The outbound HTTP client beside wrk against the same loopback server.
if [ -x "$build/tests/bench/http_client_bench" ]; then
  section "http_client_bench"
  bounded "$step_timeout" "$build/tests/bench/http_client_bench"
fi

# 4c'. heraldd's HTTP API under wrk, beside redis-benchmark on the same Redis.
if [ -x "$build/tests/bench/http_api_bench" ]; then
  section "http_api_bench"
  bounded "$step_timeout" "$build/tests/bench/http_api_bench"
fi

# 4d. Delivery through heraldd beside the BullMQ delivery peer (../shared/bench/peers/
#     bullmq-delivery, its packages in $build/peer-node) and wrk -c 64.
if [ -x "$build/tests/bench/delivery_bench" ]; then
  if [ ! -d "$build/peer-node/node_modules/bullmq" ]; then
    section "npm (the BullMQ delivery peer, into $build/peer-node)"
    bounded "$step_timeout" npm install --prefix "$build/peer-node" --no-audit --no-fund \
      --loglevel=error bullmq@6.7.0 ioredis@5.11.1 >&2 || true
  fi
  section "delivery_bench"
  HERALD_PEER_NODE_MODULES=$build/peer-node/node_modules \
    bounded "$step_timeout" "$build/tests/bench/delivery_bench"
fi

# A free TCP port on 127.0.0.1 (the kernel's choice; redis-server binds it a moment later).
free_port() {
  node -e 'const s = require("net").createServer();
           s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# Starts a fresh redis-server without persistence in its own directory; sets redis_arg to what
# the peer benchmarks take as --redis-port (a port or a socket path).
start_redis() {
  local name=$1 dir=$tmp/$1 listen ping pid i
  mkdir -p "$dir"
  if [ "$transport" = unix ]; then
    listen=(--port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700)
    ping=(-s "$dir/redis.sock")
    redis_arg=$dir/redis.sock
  else
    redis_arg=$(free_port)
    listen=(--port "$redis_arg" --bind 127.0.0.1)
    ping=(-h 127.0.0.1 -p "$redis_arg")
  fi
  redis-server --dir "$dir" --save "" --appendonly no --daemonize no \
    --logfile "$dir/redis.log" "${listen[@]}" &
  pid=$!
  redis_pids+=("$pid")
  for ((i = 0; i < 100; ++i)); do
    [ "$(redis-cli "${ping[@]}" ping 2>/dev/null)" = PONG ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: redis-server for $name did not start; its log:" >&2
  cat "$dir/redis.log" >&2 || true
  return 1
}

stop_redis() {
  local pid=${redis_pids[-1]}
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset 'redis_pids[-1]'
}

# 5. The peers, each on its own redis-server.
section "peers: BullMQ and bee-queue (N=$jobs, no-op jobs, redis over $transport)"
results=$tmp/peers.jsonl
: >"$results"
for peer in bullmq beequeue; do
  start_redis "$peer"
  bounded "$step_timeout" node "$peers/${peer}_bench.mjs" --redis-port "$redis_arg" --jobs "$jobs" >"$tmp/$peer.json"
  cat "$tmp/$peer.json"
  cat "$tmp/$peer.json" >>"$results"
  stop_redis
done

node - "$results" <<'EOF'
const rows = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const fmt = (x) => Math.round(x).toLocaleString('en-US');
console.log();
console.log(`${'peer'.padEnd(10)} ${'jobs'.padStart(9)} ${'enqueue/s'.padStart(11)} ${'drain/s'.padStart(11)} ${'cmds/job'.padStart(9)}`);
for (const r of rows) {
  console.log(`${r.peer.padEnd(10)} ${fmt(r.jobs).padStart(9)} ${fmt(r.enqueue_per_s).padStart(11)} ` +
              `${fmt(r.drain_per_s).padStart(11)} ${r.redis_commands_per_job.toFixed(2).padStart(9)}`);
}
const best = (k) => Math.max(...rows.map((r) => r[k]));
console.log(`\ngoals for heraldd (2x the faster peer): enqueue >= ${fmt(2 * best('enqueue_per_s'))}/s, ` +
            `drain >= ${fmt(2 * best('drain_per_s'))}/s`);
EOF
