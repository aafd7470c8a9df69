// Incremental Server-Sent Events parser shared by the stream translators: bytes in,
// complete events out, tolerant of any split across network chunks and of CRLF.

export interface SseEvent {
  event: string | undefined;
  data: string;
}

const STREAMING = { stream: true };

export class SseParser {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private event: string | undefined;
  private data: string[] = [];

  /** Feed bytes; returns the events they complete. */
  push(chunk: Uint8Array): SseEvent[] {
    this.buffer += this.decoder.decode(chunk, STREAMING);
    return this.drain();
  }

  /** The stream ended; returns a last event only if it was complete (blank-line terminated). */
  end(): { events: SseEvent[]; truncated: boolean } {
    this.buffer += this.decoder.decode();
    const events = this.drain();
    const truncated = this.buffer.trim().length > 0 || this.data.length > 0;
    this.buffer = '';
    this.data = [];
    this.event = undefined;
    return { events, truncated };
  }

  private drain(): SseEvent[] {
    const out: SseEvent[] = [];
    let start = 0;
    const buf = this.buffer;
    for (;;) {
      const nl = buf.indexOf('\n', start);
      if (nl === -1) break;
      let line = buf.slice(start, nl);
      start = nl + 1;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (this.data.length > 0) out.push({ event: this.event, data: this.data.length === 1 ? this.data[0] : this.data.join('\n') });
        this.data = [];
        this.event = undefined;
        continue;
      }
      if (line.charCodeAt(0) === 58 /* ':' comment */) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
    }
    this.buffer = start === 0 ? buf : buf.slice(start);
    return out;
  }
}
