// Stream translators emit typed events; tests that read what a Chat Completions client would
// receive run the pieces through the chat surface's encoder, one chunk per piece.
import { tokenUsageOf } from '../../src/core/canonical.js';
import type { StreamPiece } from '../../src/providers/types.js';
import { ChatStreamEncoder } from '../../src/surfaces/chat/encode-stream.js';

/** A piece with the `chat.completion.chunk` JSON it encodes to (none for pieces that write nothing). */
export type ChatPiece = StreamPiece & { json?: string };

export function withChatJson(pieces: readonly StreamPiece[], model: string): ChatPiece[] {
  const facts = { model, fallbacks: [], stream: true, maxOutputTokens: undefined, n: 1, relayUsageFrames: true };
  const request = { canonical: { model, messages: [] }, native: undefined, forwardHeaders: {}, facts };
  const enc = new ChatStreamEncoder({ requestId: 'test', model, created: 1, native: false, request }, facts);
  return pieces.map((p) => {
    let frames = p.frame ?? (p.events ? enc.events(p.events) : '');
    if (p.usage && p.usageOnly && p.frame === undefined) {
      frames += enc.end({ usage: tokenUsageOf(p.usage), estimated: false, costMicros: 0 }).replace('data: [DONE]\n\n', '');
    }
    const data = frames
      .split('\n\n')
      .filter((f) => f.startsWith('data: ') && f !== 'data: [DONE]')
      .map((f) => f.slice(6));
    if (data.length > 1) throw new Error(`one piece encoded to ${data.length} chunks`);
    return data.length === 1 ? { ...p, json: data[0] } : { ...p };
  });
}
