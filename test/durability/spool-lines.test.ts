import { describe, expect, it } from 'vitest';
import { decodeLines, encodeCheckpoint, encodeFinished } from '../../src/billing/spool/rows.js';
import type { FinishedRequest } from '../../src/billing/usage-writer.js';

/** A request whose every field holds a value no other field of its type holds: a swap shows. */
function distinct(id: string, withCharge = true): FinishedRequest {
  return {
    usage: {
      request_id: id,
      org_id: 'org_u',
      key_id: 'key_u',
      model: 'served-model',
      requested_model: 'asked-model',
      provider: 'prov',
      surface: 'messages',
      cache_read_tokens: 11,
      cache_write_tokens: 12,
      reasoning_tokens: 13,
      prompt_tokens: 14,
      completion_tokens: 15,
      cost_micros: 16,
      cached: 'semantic',
      status: 429,
      error_code: 'rate_limited',
      latency_ms: 17,
      stream: true,
      estimated: false,
      fallback: 'a -> b',
      attempts: 3,
      created_at: 1_764_500_000_123,
    },
    charge: withCharge
      ? { id: `chg_${id}`, org_id: 'org_c', key_id: 'key_c', kind: 'charge', amount_micros: -16, note: 'a note', request_id: id, idempotency_key: 'idem', created_at: 1_764_500_000_456 }
      : undefined,
  };
}

describe('spool lines', () => {
  it('give back every value of the usage row and its charge, in its place', () => {
    const charged = distinct('req_a');
    const free = distinct('req_b', false);
    const out = decodeLines([encodeFinished(charged), encodeFinished(free)]);
    expect(out.bad).toBe(0);
    expect(out.usage).toEqual([charged.usage, free.usage]);
    expect(out.charges).toEqual([charged.charge]);
    expect(out.interrupted).toEqual([]);
  });

  it('keep a stream checkpoint only until the request has its final row', () => {
    const early = distinct('req_s');
    const later = { usage: { ...early.usage, completion_tokens: 40 }, charge: { ...early.charge!, amount_micros: -40 } };
    const final = { usage: { ...early.usage, completion_tokens: 90 }, charge: { ...early.charge!, amount_micros: -90 } };
    // A process killed mid-stream leaves only checkpoints: the latest is the charge, and it is interrupted.
    const killed = decodeLines([encodeCheckpoint(early), encodeCheckpoint(later)]);
    expect(killed.usage).toEqual([later.usage]);
    expect(killed.interrupted).toEqual([later.charge]);
    // The final row wins wherever it stands.
    for (const lines of [
      [encodeCheckpoint(early), encodeFinished(final), encodeCheckpoint(later)],
      [encodeFinished(final), encodeCheckpoint(later)],
    ]) {
      const out = decodeLines(lines);
      expect(out.usage).toEqual([final.usage]);
      expect(out.charges).toEqual([final.charge]);
      expect(out.interrupted).toEqual([]);
    }
  });

  it('still read the earlier format, a JSON object per line, so an older spool replays', () => {
    const old = distinct('req_old');
    const stream = distinct('req_old_stream');
    const out = decodeLines([JSON.stringify(old), JSON.stringify({ ...stream, provisional: true }), encodeFinished(distinct('req_new'))]);
    expect(out.bad).toBe(0);
    expect(out.usage.map((u) => u.request_id)).toEqual(['req_old', 'req_old_stream', 'req_new']);
    expect(out.usage[0]).toEqual(old.usage);
    expect(out.interrupted).toEqual([stream.charge]);
  });

  it('count a line that is no request as corrupt and skip it', () => {
    const good = encodeFinished(distinct('req_ok'));
    const values = JSON.parse(good) as unknown[];
    const out = decodeLines([
      good,
      '{"usage":',
      '[]',
      JSON.stringify([7, ...values.slice(1)]),
      JSON.stringify([1, 42, ...values.slice(2)]),
      JSON.stringify(values.slice(0, 20)),
      JSON.stringify([...values, 'extra']),
      'null',
      '"text"',
      '{"charge":null}',
    ]);
    expect(out.usage.map((u) => u.request_id)).toEqual(['req_ok']);
    expect(out.bad).toBe(9);
  });

  it('leave out the property names: a line is far shorter than the row as a JSON object', () => {
    const item = distinct('req_len');
    expect(encodeFinished(item).length).toBeLessThan(JSON.stringify(item).length * 0.6);
  });
});
