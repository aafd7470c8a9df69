// ClientSignal: the per-request abort signal the HTTP layer hands the engine in place of an
// AbortController's. Its consumers (the transport, the in-flight gate, the attempt executor's
// back-off sleep, undici) treat it as an AbortSignal: listeners run once, on the first abort,
// after `aborted` and `reason` are set.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ClientSignal } from '../../src/core/request-signal.js';

describe('ClientSignal', () => {
  it('calls every listener (function or handleEvent object) once, on the first abort, with aborted and reason already set', () => {
    const s = new ClientSignal();
    const seen: string[] = [];
    const fn = () => seen.push(`fn ${s.aborted} ${String(s.reason)}`);
    const obj = { handleEvent: (e: Event) => seen.push(`obj ${e.type} ${String(s.reason)}`) };
    s.addEventListener('abort', fn);
    s.addEventListener('abort', obj);
    s.addEventListener('abort', fn); // a listener added twice runs once, as on an EventTarget
    expect(s.aborted).toBe(false);
    s.abort('gone');
    s.abort('again');
    expect(seen).toEqual(['fn true gone', 'obj abort gone']);
    expect(s.reason).toBe('gone');
  });

  it('does not call a removed listener, and keeps the others', () => {
    const s = new ClientSignal();
    const seen: number[] = [];
    const a = () => seen.push(1);
    const b = () => seen.push(2);
    const c = () => seen.push(3);
    s.addEventListener('abort', a);
    s.removeEventListener('abort', a);
    s.addEventListener('abort', b);
    s.addEventListener('abort', c);
    s.removeEventListener('abort', b);
    s.abort();
    expect(seen).toEqual([3]);
  });

  it('aborts with an AbortError by default, as AbortController.abort() does', () => {
    const s = new ClientSignal();
    s.abort();
    expect(s.reason).toBeInstanceOf(DOMException);
    expect((s.reason as DOMException).name).toBe('AbortError');
  });

  it("ends Node's timers/promises sleep when aborted (the attempt executor's back-off)", async () => {
    const s = new ClientSignal();
    const slept = sleep(60_000, undefined, { signal: s as unknown as AbortSignal });
    s.abort(new Error('client went away'));
    await expect(slept).rejects.toMatchObject({ name: 'AbortError', cause: s.reason });
  });
});
