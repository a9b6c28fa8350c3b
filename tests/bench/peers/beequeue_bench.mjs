// bee-queue beside heraldd: N no-op jobs enqueued with saveAll in chunks of 1,000, then drained
// by process(100, ...) on a queue with removeOnSuccess. Prints one line of JSON:
//   {"peer":"bee-queue","jobs":N,"enqueue_per_s":...,"drain_per_s":...,"redis_commands_per_job":...}
// enqueue_per_s times the saveAll calls alone (the connection is ready before the clock starts);
// drain_per_s runs from the first job the handler sees to the last 'succeeded' event (emitted
// after the job's MULTI/EXEC has returned). Commands per job: every call in INFO commandstats
// (commands run by Lua scripts included) from before the queues connect to the last completion,
// divided by N.
//
// Nobody listens for job events here, so both queues run with getEvents: false and
// sendEvents: false (bee-queue's defaults would add a SUBSCRIBE connection and a PUBLISH per job);
// the producer also keeps no Job objects (storeJobs: false). This is bee-queue at its fastest.
//
//   node beequeue_bench.mjs --redis-port 6391 [--jobs 100000] [--verbose]
import Queue from 'bee-queue';
import {
  CHUNK, CONCURRENCY, parseArgs, redisOptions, commandStats, commandDelta, countdown, deadline,
  now, report, exitSoon,
} from './common.mjs';

const opts = parseArgs();
const name = 'herald-bench';
const common = { redis: redisOptions(opts), getEvents: false, sendEvents: false };

async function main() {
  const before = await commandStats(opts);

  const producer = new Queue(name, { ...common, isWorker: false, storeJobs: false });
  producer.on('error', (err) => console.error(`bee-queue producer: ${err.message}`));
  await producer.ready();

  const t0 = now();
  for (let done = 0; done < opts.jobs; done += CHUNK) {
    const n = Math.min(CHUNK, opts.jobs - done);
    const jobs = new Array(n);
    for (let i = 0; i < n; ++i) jobs[i] = producer.createJob({ type: 'noop' });
    const errors = await producer.saveAll(jobs);
    if (errors.size) throw new Error(`bee-queue saveAll: ${[...errors.values()][0].message}`);
  }
  const enqueueMs = now() - t0;

  const worker = new Queue(name, { ...common, isWorker: true, removeOnSuccess: true });
  worker.on('error', (err) => console.error(`bee-queue worker: ${err.message}`));
  await worker.ready();

  const completed = countdown(opts.jobs);
  let firstPickup = null, failed = 0;
  worker.on('succeeded', () => completed.tick());
  worker.on('failed', (job, err) => {
    if (++failed <= 5) console.error(`bee-queue job ${job?.id} failed: ${err.message}`);
  });
  worker.process(CONCURRENCY, async () => {
    if (firstPickup === null) firstPickup = now();
  });

  const limit = deadline(600000, 'bee-queue drain', () => `${completed.seen} of ${opts.jobs} completed`);
  let last;
  try {
    last = await Promise.race([completed.promise, limit.promise]);
  } finally {
    limit.cancel();
  }
  const after = await commandStats(opts);

  await worker.close(10000);
  const left = await producer.checkHealth();
  await producer.close(10000);
  if (failed || left.waiting || left.active || left.succeeded) {
    throw new Error(`bee-queue: ${failed} failed, left behind ${JSON.stringify(left)}`);
  }
  report(opts, 'bee-queue', { enqueueMs, drainMs: last - firstPickup, delta: commandDelta(before, after) });
}

main().then(
  () => exitSoon(0),
  (err) => {
    console.error(`beequeue_bench: ${err.stack || err}`);
    exitSoon(1);
  },
);
