// Turns a V8 .cpuprofile (node --cpu-prof) into a text summary: the functions with the most
// self time, with their share of the sampled time and where they are defined.
//   node bench/profile-summary.mjs FILE.cpuprofile [--top 25] [--skip S | --last S] [--by-file] > bench/profiles/NAME.txt
// --skip S leaves out the first S seconds of samples (start-up: module loading, migrations).
// --last S keeps only the last S seconds: with `bench/run.mjs --only SCENARIO --profile DIR` the
// gateway's last window is the scenario's measured one, where --skip would keep the warm-up
// (half of it streamed) as well.
// --by-file adds up self time per source file (and per native or V8 entry that has none).
import { readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';
import { ROOT, numberOption } from './support.mjs';

const file = process.argv[2];
if (!file || file.startsWith('--')) {
  process.stderr.write('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top 25]\n');
  process.exit(2);
}
const top = numberOption('--top', 25);
const skipUs = numberOption('--skip', 0) * 1e6;
const lastUs = numberOption('--last', 0) * 1e6;
const byFile = process.argv.includes('--by-file');
const profile = JSON.parse(readFileSync(file, 'utf8'));

// Self time per node: each sample names the node that was on top of the stack, and the
// interval before it (timeDeltas) is that sample's duration.
const selfUs = new Map();
const { samples = [], timeDeltas = [] } = profile;
const span = timeDeltas.reduce((sum, dt) => sum + Math.max(0, dt), 0);
const from = lastUs > 0 ? span - lastUs : skipUs;
let at = 0;
for (let i = 0; i < samples.length; i++) {
  const dt = Math.max(0, timeDeltas[i] ?? 0);
  at += dt;
  if (at < from) continue;
  selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + dt);
}

const where = (cf) => {
  if (!cf.url) return '';
  let url = cf.url.replace(/^file:\/\//, '');
  if (url.startsWith('/')) url = relative(ROOT, url);
  url = url.replace(/^(\.\.\/)+/, '').replace(/^.*node_modules\//, 'node_modules/');
  return `${url}:${cf.lineNumber + 1}`;
};

// The same function appears as many nodes (one per call path): add them up.
const byFunction = new Map();
let total = 0;
let idle = 0;
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  total += us;
  const cf = node.callFrame;
  if (cf.functionName === '(idle)') idle += us;
  const loc = where(cf);
  const id = byFile ? (loc ? `${loc.replace(/:\d+$/, '')}\u0000` : `${cf.functionName || '(anonymous)'}\u0000`) : `${cf.functionName || '(anonymous)'}\u0000${loc}`;
  byFunction.set(id, (byFunction.get(id) ?? 0) + us);
}
const busy = total - idle;
const rows = [...byFunction.entries()].filter(([id]) => !id.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top);

const ms = (us) => (us / 1000).toFixed(1);
const pct = (us) => (busy > 0 ? ((100 * us) / busy).toFixed(1) : '0.0');
const lines = [
  `profile: ${basename(file)}`,
  `${lastUs > 0 ? `the last ${lastUs / 1e6} s, ` : skipUs > 0 ? `after the first ${skipUs / 1e6} s, ` : ''}sampled ${ms(total)} ms, of which idle ${ms(idle)} ms, busy ${ms(busy)} ms; top ${top} ${byFile ? 'source files' : 'functions'} by self time (share of busy time)`,
  '',
  `${'self ms'.padStart(9)} ${'%'.padStart(6)}  ${byFile ? 'file (or native entry)' : 'function  (location)'}`,
];
for (const [id, us] of rows) {
  const [name, loc] = id.split('\u0000');
  lines.push(`${ms(us).padStart(9)} ${pct(us).padStart(6)}  ${name}${loc ? `  (${loc})` : ''}`);
}
process.stdout.write(`${lines.join('\n')}\n`);
