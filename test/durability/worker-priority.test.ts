// The store worker's commits are background work: on Linux its thread runs ten nice steps
// below the process, so that the request thread preempts it instead of waiting out a commit
// (docs/deployment.md, "The store worker").
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { chat, flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** The nice value of every thread of this process (field 19 of /proc/self/task/TID/stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start with the state, field 3.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

let gw: TestGateway | undefined;
afterAll(async () => {
  await gw?.close();
});

describe.skipIf(process.platform !== 'linux')('the store worker thread', () => {
  it('runs ten nice steps below the request thread once the gateway has written usage', async () => {
    const base = getPriority();
    const lowered = () => threadNices().filter((n) => n === Math.min(19, base + 10)).length;
    expect(lowered(), 'no thread of this process is lowered before the gateway starts').toBe(0);
    gw = await startTestGateway();
    const { key } = await gw.createKey((await gw.createOrg(5)).mk);
    const res = await chat(gw.url, key, { model: 'mock-chat', messages: [{ role: 'user', content: 'echo: hi' }] });
    expect(res.status).toBe(200);
    // The worker has run (it committed the request's usage row).
    await flushed(gw);
    expect(lowered()).toBe(1);
    expect(threadNices().filter((n) => n === base).length, 'the request thread and the rest keep the process priority').toBeGreaterThan(0);
  });
});
