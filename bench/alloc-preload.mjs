// Loaded into the gateway by bench/alloc-sites.mjs (node --import): the first SIGUSR2 starts V8's
// sampling heap profiler, the second writes its profile to the file named by
// TOLLGATE_BENCH_ALLOC_FILE and stops it. Never loaded otherwise.
import { renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const file = process.env.TOLLGATE_BENCH_ALLOC_FILE;
if (file) {
  const session = new Session();
  session.connect();
  let sampling = false;
  process.on('SIGUSR2', async () => {
    if (!sampling) {
      sampling = true;
      // 1 KiB between samples on average; objects the collector has freed since are kept.
      await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return;
    }
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(`${file}.tmp`, JSON.stringify(profile));
    renameSync(`${file}.tmp`, file);
  });
}
