// multipart/form-data, read as it streams and written back out: the reader splits a body into
// parts without holding more than one chunk plus a delimiter's length; the writer builds the
// body sent upstream from text fields and a file read from disk.
import { GatewayError } from './errors.js';

export interface PartHeaders {
  name: string;
  filename: string | undefined;
  contentType: string | undefined;
}

export interface MultipartHandler {
  /** A part begins (its headers are read). */
  part(h: PartHeaders): void;
  /** Bytes of the current part, in order. May be async (e.g. a file write); the reader waits. */
  data(chunk: Buffer): void | Promise<void>;
  /** The current part ended. */
  partEnd(): void | Promise<void>;
}

const MAX_HEADER_BYTES = 16 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

/** The boundary of a multipart/form-data content type, or undefined when it is not one. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^;\s]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

function bad(message: string): GatewayError {
  return new GatewayError('invalid_value', `The multipart body is malformed: ${message}.`, { param: 'file' });
}

function parseHeaders(text: string): PartHeaders {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-disposition') disposition = value;
    else if (name === 'content-type') contentType = value;
  }
  if (!disposition || !/^form-data\b/i.test(disposition)) throw bad('a part has no "Content-Disposition: form-data" header');
  const param = (key: string) => {
    const m = new RegExp(`;\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`, 'i').exec(disposition!) ?? new RegExp(`;\\s*${key}=([^;\\s]+)`, 'i').exec(disposition!);
    return m ? m[1].replace(/\\(.)/g, '$1') : undefined;
  };
  const name = param('name');
  if (name === undefined || name === '') throw bad('a part has no field name');
  return { name, filename: param('filename'), contentType };
}

/** Reads a multipart body chunk by chunk and reports its parts to `handler`. */
export class MultipartReader {
  private buf: Buffer = Buffer.alloc(0);
  private state: 'preamble' | 'headers' | 'body' | 'done' = 'preamble';
  private readonly first: Buffer;
  private readonly delimiter: Buffer;

  constructor(
    boundary: string,
    private readonly handler: MultipartHandler,
  ) {
    this.first = Buffer.from(`--${boundary}`);
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  get done(): boolean {
    return this.state === 'done';
  }

  async push(chunk: Buffer): Promise<void> {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.state === 'done') {
        this.buf = Buffer.alloc(0);
        return;
      }
      if (this.state === 'preamble') {
        const at = this.buf.indexOf(this.first);
        if (at === -1) {
          if (this.buf.length > MAX_HEADER_BYTES) throw bad('no boundary line at the start');
          return;
        }
        if (this.buf.length < at + this.first.length + 2) return;
        if (!this.afterDelimiter(at + this.first.length)) return;
        continue;
      }
      if (this.state === 'headers') {
        const end = this.buf.indexOf(CRLF2);
        if (end === -1) {
          if (this.buf.length > MAX_HEADER_BYTES) throw bad('part headers are too long');
          return;
        }
        this.handler.part(parseHeaders(this.buf.subarray(0, end).toString('utf8')));
        this.buf = this.buf.subarray(end + 4);
        this.state = 'body';
        continue;
      }
      // body: everything before the next delimiter is data; keep a delimiter's length back in case it is split.
      const at = this.buf.indexOf(this.delimiter);
      if (at === -1) {
        const keep = this.delimiter.length - 1;
        if (this.buf.length > keep) {
          const out = this.buf.subarray(0, this.buf.length - keep);
          this.buf = this.buf.subarray(this.buf.length - keep);
          await this.handler.data(out);
        }
        return;
      }
      if (this.buf.length < at + this.delimiter.length + 2) return;
      if (at > 0) await this.handler.data(this.buf.subarray(0, at));
      await this.handler.partEnd();
      if (!this.afterDelimiter(at + this.delimiter.length)) return;
    }
  }

  /** After a delimiter: "--" ends the body, CRLF starts a part. */
  private afterDelimiter(pos: number): boolean {
    const two = this.buf.subarray(pos, pos + 2).toString('latin1');
    if (two === '--') {
      this.state = 'done';
      return true;
    }
    if (two !== '\r\n') throw bad('a boundary line is not followed by a line break');
    this.buf = this.buf.subarray(pos + 2);
    this.state = 'headers';
    return true;
  }

  /** The body ended: it must have had its closing boundary. */
  end(): void {
    if (this.state !== 'done') throw bad('the body ended before its closing boundary');
  }
}

const quoteParam = (v: string) => v.replace(/["\\\r\n]/g, '_');

/** A multipart/form-data body of text fields followed by one file, produced piece by piece. */
export async function* multipartBody(
  boundary: string,
  fields: ReadonlyArray<readonly [string, string]>,
  file: { field: string; filename: string; contentType: string; read: () => AsyncIterable<Uint8Array> },
): AsyncGenerator<Uint8Array> {
  for (const [name, value] of fields) {
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quoteParam(name)}"\r\n\r\n${value}\r\n`);
  }
  yield Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${quoteParam(file.field)}"; filename="${quoteParam(file.filename)}"\r\nContent-Type: ${file.contentType.replace(/[\r\n]/g, '')}\r\n\r\n`,
  );
  yield* file.read();
  yield Buffer.from(`\r\n--${boundary}--\r\n`);
}
