// One fuzz batch: node child.js SEED CALLS [--trace] [--worker]. Runs CALLS seeded cases, each
// awaited (with a bound) when it returns a promise, and prints one JSON line of outcome counts.
// --trace prints each case before it runs (the driver replays a crashed batch with it to name the
// case). --worker runs the batch in a worker thread and terminates it at a random moment.
const { Worker, isMainThread, workerData, parentPort } = require('worker_threads');

async function batch(seed, calls, trace) {
  const { nextCase, Rng } = require('./cases');
  const rng = new Rng(seed);
  const counts = { returned: 0, threw: 0, rejected: 0, errors: {} };
  const note = (e) => {
    const name = e?.constructor?.name ?? typeof e;
    counts.errors[name] = (counts.errors[name] ?? 0) + 1;
  };
  const pending = [];
  for (let i = 0; i < calls; i++) {
    let c;
    try {
      c = nextCase(rng);
    } catch (e) {
      counts.threw++;  // building the case's arguments failed: as good as a refusal
      note(e);
      continue;
    }
    if (trace) process.stdout.write(`case ${i}: ${c.desc}\n`);
    try {
      const r = c.run();
      if (r && typeof r.then === 'function') {
        const p = r.then(() => counts.returned++, (e) => (counts.rejected++, note(e)));
        pending.push(p);
        // Mostly awaited at once; sometimes several stay in flight together.
        if (rng.uniform() < 0.7 || pending.length > 8) await Promise.all(pending.splice(0));
      } else counts.returned++;
    } catch (e) {
      counts.threw++;
      note(e);
    }
  }
  await Promise.all(pending);
  return counts;
}

if (isMainThread) {
  const [seed, calls] = process.argv.slice(2, 4).map(Number);
  const trace = process.argv.includes('--trace');
  if (process.argv.includes('--worker')) {
    // A worker fuzzing on its own, terminated at a random moment mid-batch.
    const w = new Worker(__filename, { workerData: { seed, calls, trace } });
    w.on('error', () => {});
    const t = setTimeout(() => w.terminate(), 200 + (seed % 1000));
    w.on('exit', () => {
      clearTimeout(t);
      console.log(JSON.stringify({ seed, calls, worker: true }));
    });
  } else {
    batch(seed, calls, trace).then((counts) => console.log(JSON.stringify({ seed, calls, ...counts })));
  }
} else {
  batch(workerData.seed, workerData.calls, workerData.trace).then(() => parentPort.postMessage('done'));
}
