// Incremental Server-Sent Events parser shared by the stream translators: bytes in,
// complete events out, tolerant of any split across network chunks and of CRLF.
//
// Bytes are decoded only up to the last line feed of what has arrived: a line feed is never
// part of a multi-byte UTF-8 sequence, so every decoded run is whole and needs no streaming
// decoder state (Buffer's UTF-8 decoding is several times cheaper than TextDecoder's streaming
// mode). The rest waits, as bytes, for the next chunk.

export interface SseEvent {
  event: string | undefined;
  data: string;
}

const LF = 10;

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export class SseParser {
  /** bytes after the last line feed seen, in arrival order (usually none) */
  private pending: Buffer[] = [];
  private atStart = true;
  private event: string | undefined;
  private data: string[] = [];

  /** Feed bytes; returns the events they complete. */
  push(chunk: Uint8Array): SseEvent[] {
    let bytes = asBuffer(chunk);
    const nl = bytes.lastIndexOf(LF);
    if (nl === -1) {
      if (bytes.byteLength > 0) this.pending.push(bytes);
      return [];
    }
    if (this.pending.length > 0) {
      const before = this.pending;
      this.pending = [];
      let size = 0;
      for (const b of before) size += b.byteLength;
      bytes = Buffer.concat([...before, bytes], size + bytes.byteLength);
      return this.complete(bytes, size + nl);
    }
    return this.complete(bytes, nl);
  }

  /** The stream ended; returns a last event only if it was complete (blank-line terminated). */
  end(): { events: SseEvent[]; truncated: boolean } {
    const rest = this.pending.length > 0 ? this.decode(Buffer.concat(this.pending), undefined) : '';
    this.pending = [];
    const truncated = rest.trim().length > 0 || this.data.length > 0;
    this.data = [];
    this.event = undefined;
    return { events: [], truncated };
  }

  /** Decodes bytes[0, nl] (nl is a line feed) into events, keeping what follows it for later. */
  private complete(bytes: Buffer, nl: number): SseEvent[] {
    // A copy: a view would keep the whole network buffer alive while the stream is idle.
    if (nl + 1 < bytes.byteLength) this.pending.push(Buffer.from(bytes.subarray(nl + 1)));
    return this.drain(this.decode(bytes, nl + 1));
  }

  /** bytes[0, end) as text (invalid sequences become U+FFFD, as TextDecoder does). */
  private decode(bytes: Buffer, end: number | undefined): string {
    // toString() without arguments is Buffer's direct path; with them it goes through encoding lookups.
    const text = end === undefined || end === bytes.byteLength ? bytes.toString() : bytes.subarray(0, end).toString();
    if (!this.atStart) return text;
    this.atStart = false;
    // A byte order mark at the start of the stream is not part of the first field name.
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  /** Every line of `buf` is complete (it ends with a line feed). */
  private drain(buf: string): SseEvent[] {
    const out: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf('\n', start);
      if (nl === -1) break;
      // The common event, alone on its lines: `data: …\n\n` with no field pending before it.
      if (this.data.length === 0 && buf.charCodeAt(nl + 1) === LF && buf.startsWith('data:', start)) {
        const from = buf.charCodeAt(start + 5) === 32 ? start + 6 : start + 5;
        const to = buf.charCodeAt(nl - 1) === 13 && nl - 1 >= from ? nl - 1 : nl;
        out.push({ event: this.event, data: buf.slice(from, to) });
        this.event = undefined;
        start = nl + 2;
        continue;
      }
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
    return out;
  }
}
