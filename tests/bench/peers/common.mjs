// Shared by the peer benchmarks: command-line options, a dependency-free INFO commandstats
// reader (a raw RESP exchange, so the measuring client is neither peer's own client), and the
// one line of JSON each benchmark prints.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export const CHUNK = 1000;
export const CONCURRENCY = 100;

const USAGE = `usage: node <bench>.mjs (--redis-port P | --redis-socket PATH) [--redis-host H] [--jobs N] [--verbose]
  --redis-port also accepts a unix socket path (anything that is not a number).
  --jobs defaults to $HERALD_BENCH_JOBS, else 100000.`;

export function parseArgs(argv = process.argv.slice(2)) {
  const opts = {
    host: '127.0.0.1',
    port: null,
    socket: null,
    jobs: Number(process.env.HERALD_BENCH_JOBS || 100000),
    verbose: false,
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--redis-port') {
      const v = value();
      if (/^\d+$/.test(v)) opts.port = Number(v);
      else opts.socket = v;
    } else if (a === '--redis-socket') opts.socket = value();
    else if (a === '--redis-host') opts.host = value();
    else if (a === '--jobs') opts.jobs = Number(value());
    else if (a === '--verbose') opts.verbose = true;
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else fail(`unknown argument ${a}`);
  }
  if (opts.port === null && opts.socket === null) fail('--redis-port or --redis-socket is required');
  if (!Number.isSafeInteger(opts.jobs) || opts.jobs <= 0) fail('--jobs must be a positive integer');
  return opts;
}

function fail(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

// Connection options in the shape both ioredis (BullMQ) and node-redis 3 (bee-queue) accept.
export function redisOptions(opts) {
  return opts.socket ? { path: opts.socket } : { host: opts.host, port: opts.port };
}

// Sends one RESP command on a connection of its own and returns the bulk-string reply.
function rawCommand(opts, args) {
  return new Promise((resolve, reject) => {
    const sock = opts.socket
      ? net.createConnection({ path: opts.socket })
      : net.createConnection({ host: opts.host, port: opts.port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis ${args[0]}: no reply in 10 s`));
    }, 10000);
    const done = (err, value) => {
      clearTimeout(timer);
      sock.destroy();
      err ? reject(err) : resolve(value);
    };
    sock.on('error', (err) => done(err));
    sock.on('connect', () => {
      let req = `*${args.length}\r\n`;
      for (const s of args) req += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
      sock.write(req);
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const head = buf.subarray(0, eol).toString();
      if (head[0] === '-') return done(new Error(`redis ${args[0]}: ${head.slice(1)}`));
      if (head[0] !== '$') return done(new Error(`redis ${args[0]}: unexpected reply ${head}`));
      const len = Number(head.slice(1));
      if (buf.length < eol + 2 + len) return;
      done(null, buf.subarray(eol + 2, eol + 2 + len).toString());
    });
  });
}

// Calls per command name, from INFO commandstats.
export async function commandStats(opts) {
  const text = await rawCommand(opts, ['INFO', 'commandstats']);
  const calls = new Map();
  for (const line of text.split('\r\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) calls.set(m[1], Number(m[2]));
  }
  return calls;
}

// Calls made between two snapshots, per command, less the INFO that took the first snapshot
// (Redis counts a command after it replies, so that INFO shows up in the second snapshot).
export function commandDelta(before, after) {
  const delta = new Map();
  for (const [name, n] of after) {
    const d = n - (before.get(name) || 0) - (name === 'info' ? 1 : 0);
    if (d > 0) delta.set(name, d);
  }
  return delta;
}

export function sumCalls(delta) {
  let total = 0;
  for (const n of delta.values()) total += n;
  return total;
}

export const now = () => performance.now();

// Counts completions; `promise` resolves with the time of the n-th.
export function countdown(n) {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  let seen = 0;
  return {
    promise,
    tick() {
      if (++seen === n) resolve(now());
      return seen;
    },
    get seen() {
      return seen;
    },
  };
}

// Rejects after `ms` with a message saying how far the drain got.
export function deadline(ms, what, progress) {
  let timer;
  const promise = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms / 1000} s (${progress()})`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

export function report(opts, peer, { enqueueMs, drainMs, delta }) {
  const round = (x, d = 0) => Number(x.toFixed(d));
  const line = {
    peer,
    jobs: opts.jobs,
    enqueue_per_s: round(opts.jobs / (enqueueMs / 1000)),
    drain_per_s: round(opts.jobs / (drainMs / 1000)),
    redis_commands_per_job: round(sumCalls(delta) / opts.jobs, 2),
  };
  if (opts.verbose) {
    const top = [...delta].sort((a, b) => b[1] - a[1]);
    console.error(`${peer}: enqueue ${(enqueueMs / 1000).toFixed(3)} s, drain ${(drainMs / 1000).toFixed(3)} s`);
    for (const [name, n] of top) console.error(`  ${name.padEnd(24)} ${(n / opts.jobs).toFixed(3)} per job`);
  }
  console.log(JSON.stringify(line));
}

// Exits with the given code once the event loop has had a moment to drain; a benchmark whose
// connections failed to close must not hang the script that runs it.
export function exitSoon(code) {
  process.exitCode = code;
  setTimeout(() => {
    console.error('peer benchmark: connections still open 10 s after close; exiting');
    process.exit(code || 1);
  }, 10000).unref();
}
