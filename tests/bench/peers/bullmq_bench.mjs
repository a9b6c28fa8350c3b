// BullMQ beside heraldd: N no-op jobs enqueued with addBulk in chunks of 1,000 (removeOnComplete),
// then drained by one Worker of concurrency 100. Prints one line of JSON:
//   {"peer":"bullmq","jobs":N,"enqueue_per_s":...,"drain_per_s":...,"redis_commands_per_job":...}
// enqueue_per_s times the addBulk calls alone (the connection is ready before the clock starts);
// drain_per_s runs from the first job the processor sees to the last 'completed' event.
// Commands per job: every call in INFO commandstats (commands run by Lua scripts included) from
// before the Queue connects to the last completion, divided by N.
//
//   node bullmq_bench.mjs --redis-port 6390 [--jobs 100000] [--verbose]
import { Queue, Worker } from 'bullmq';
import {
  CHUNK, CONCURRENCY, parseArgs, redisOptions, commandStats, commandDelta, countdown, deadline,
  now, report, exitSoon,
} from './common.mjs';

const opts = parseArgs();
const connection = redisOptions(opts);
const name = 'herald-bench';

async function main() {
  const before = await commandStats(opts);

  const queue = new Queue(name, { connection });
  queue.on('error', (err) => console.error(`bullmq queue: ${err.message}`));
  await queue.waitUntilReady();

  const t0 = now();
  for (let done = 0; done < opts.jobs; done += CHUNK) {
    const n = Math.min(CHUNK, opts.jobs - done);
    const jobs = new Array(n);
    for (let i = 0; i < n; ++i) {
      jobs[i] = { name: 'noop', data: { type: 'noop' }, opts: { removeOnComplete: true } };
    }
    await queue.addBulk(jobs);
  }
  const enqueueMs = now() - t0;

  const completed = countdown(opts.jobs);
  let firstPickup = null, failed = 0;
  const worker = new Worker(
    name,
    async () => {
      if (firstPickup === null) firstPickup = now();
    },
    { connection, concurrency: CONCURRENCY },
  );
  worker.on('completed', () => completed.tick());
  worker.on('failed', (job, err) => {
    if (++failed <= 5) console.error(`bullmq job ${job?.id} failed: ${err.message}`);
  });
  worker.on('error', (err) => console.error(`bullmq worker: ${err.message}`));

  const limit = deadline(600000, 'bullmq drain', () => `${completed.seen} of ${opts.jobs} completed`);
  let last;
  try {
    last = await Promise.race([completed.promise, limit.promise]);
  } finally {
    limit.cancel();
  }
  const after = await commandStats(opts);

  await worker.close();
  const left = await queue.getJobCounts('wait', 'active', 'failed', 'completed');
  await queue.close();
  if (failed || left.wait || left.active || left.completed) {
    throw new Error(`bullmq: ${failed} failed, left behind ${JSON.stringify(left)}`);
  }
  report(opts, 'bullmq', { enqueueMs, drainMs: last - firstPickup, delta: commandDelta(before, after) });
}

main().then(
  () => exitSoon(0),
  (err) => {
    console.error(`bullmq_bench: ${err.stack || err}`);
    exitSoon(1);
  },
);
