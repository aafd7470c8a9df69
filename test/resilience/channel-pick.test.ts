// ChannelTable.pick(), the channel choice of each attempt: among channels whose breaker admits
// traffic, untried ones first, the best (lowest) priority, weighted at random among equals.
import { describe, expect, it } from 'vitest';
import { type ChannelRuntime, ChannelTable, type ModelRuntime } from '../../src/routing/channels.js';

function channel(id: string, priority: number, weight: number, available = true): ChannelRuntime {
  return { id, priority, weight, breaker: { isAvailable: () => available } } as unknown as ChannelRuntime;
}

function pick(channels: ChannelRuntime[], opts: { random?: number; tried?: string[]; only?: (c: ChannelRuntime) => boolean } = {}) {
  let draws = 0;
  const table = {
    random: () => {
      draws++;
      return opts.random ?? 0;
    },
  };
  const model = { channels } as unknown as ModelRuntime;
  const chosen = ChannelTable.prototype.pick.call(table as unknown as ChannelTable, model, new Set(opts.tried ?? []), 0, opts.only);
  return { id: chosen?.id, draws };
}

describe('ChannelTable.pick', () => {
  it('takes the best priority among the channels whose breaker admits traffic', () => {
    expect(pick([channel('a', 1, 1), channel('b', 0, 1), channel('c', -1, 1, false)]).id).toBe('b');
  });

  it('splits equal priorities by weight, in channel order', () => {
    const chs = [channel('a', 0, 1), channel('b', 0, 3), channel('z', 1, 100)];
    expect(pick(chs, { random: 0.2 }).id).toBe('a');
    expect(pick(chs, { random: 0.3 }).id).toBe('b');
    expect(pick(chs, { random: 0.99 }).id).toBe('b');
  });

  it('puts tried channels last, and picks among all available ones once every one was tried', () => {
    const chs = [channel('a', 0, 1), channel('b', 2, 1), channel('c', 1, 1)];
    expect(pick(chs, { tried: ['a'] }).id).toBe('c');
    expect(pick(chs, { tried: ['a', 'c'] }).id).toBe('b');
    expect(pick(chs, { tried: ['a', 'b', 'c'] }).id).toBe('a');
  });

  it('keeps to the channels `only` accepts', () => {
    const chs = [channel('a', 0, 1), channel('b', 1, 1)];
    expect(pick(chs, { only: (c) => c.id === 'b' }).id).toBe('b');
    expect(pick(chs, { only: () => false })).toEqual({ id: undefined, draws: 0 });
  });

  it('gives nothing, drawing no random number, when no channel admits traffic', () => {
    expect(pick([channel('a', 0, 1, false), channel('b', 0, 1, false)])).toEqual({ id: undefined, draws: 0 });
  });
});
