// Receiving an audio upload: the multipart body is read as it arrives, its text fields kept
// (small, bounded) and its file part written straight to a private temporary file, so memory
// holds one chunk at a time whatever the file's size. Bytes are counted as they pass: past
// `server.max_audio_bytes` the upload is refused at once (413, connection closed) and the
// partial file removed. The spooled file can then be sent upstream, and sent again on a retry.
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AudioUpload, MAX_FIELD_BYTES, MAX_FIELDS } from '../core/audio.js';
import { GatewayError } from '../core/errors.js';
import { MultipartReader } from '../core/multipart.js';

const HEAD_BYTES = 64 * 1024;


function tooLarge(limit: number): GatewayError {
  return new GatewayError('payload_too_large', `The audio upload is larger than ${limit} bytes (server.max_audio_bytes). Send a shorter or more compressed file.`, { param: 'file' }).withHeaders({
    connection: 'close',
  });
}

export async function receiveAudioUpload(body: AsyncIterable<Buffer>, boundary: string, limit: number): Promise<AudioUpload> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-audio-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  const fields: Array<[string, string]> = [];
  let file: AudioUpload['file'];
  let field: { name: string; parts: Buffer[]; size: number } | undefined;
  let out: WriteStream | undefined;
  let fileBytes = 0;
  let fileMeta: { filename: string; contentType: string } | undefined;
  const path = join(dir, 'audio');
  const reader = new MultipartReader(boundary, {
    part(h) {
      if (h.filename !== undefined) {
        if (h.name !== 'file') throw new GatewayError('unknown_parameter', `Unknown file field "${h.name}": send the audio as the "file" part.`, { param: h.name });
        if (fileMeta) throw new GatewayError('invalid_value', 'Send exactly one "file" part.', { param: 'file' });
        fileMeta = { filename: h.filename || 'audio', contentType: h.contentType ?? 'application/octet-stream' };
        out = createWriteStream(path, { mode: 0o600 });
        out.on('error', () => {});
        return;
      }
      if (h.name === 'file') throw new GatewayError('invalid_value', 'The "file" part must be a file (with a filename), not a text field.', { param: 'file' });
      if (fields.length >= MAX_FIELDS) throw new GatewayError('invalid_value', `At most ${MAX_FIELDS} form fields are accepted.`, { param: h.name });
      field = { name: h.name, parts: [], size: 0 };
    },
    async data(chunk) {
      if (out) {
        fileBytes += chunk.length;
        if (!out.write(chunk)) await once(out, 'drain');
        return;
      }
      if (!field) return;
      field.size += chunk.length;
      if (field.size > MAX_FIELD_BYTES) throw new GatewayError('invalid_value', `The field "${field.name}" is longer than ${MAX_FIELD_BYTES} bytes.`, { param: field.name });
      field.parts.push(Buffer.from(chunk));
    },
    async partEnd() {
      if (out) {
        const w = out;
        out = undefined;
        await new Promise<void>((resolve, reject) => w.end((err?: Error | null) => (err ? reject(err) : resolve())));
        file = { path, size: fileBytes, filename: fileMeta!.filename, contentType: fileMeta!.contentType, head: Buffer.alloc(0) };
        return;
      }
      if (field) fields.push([field.name, Buffer.concat(field.parts).toString('utf8')]);
      field = undefined;
    },
  });
  try {
    let total = 0;
    for await (const chunk of body) {
      total += chunk.length;
      if (total > limit) throw tooLarge(limit);
      await reader.push(chunk);
    }
    reader.end();
    if (file) {
      const fh = await open(file.path, 'r');
      try {
        const head = Buffer.alloc(Math.min(HEAD_BYTES, file.size));
        await fh.read(head, 0, head.length, 0);
        file.head = head;
      } finally {
        await fh.close();
      }
    }
    return { fields, file, dispose };
  } catch (err) {
    out?.destroy();
    await dispose();
    throw err;
  }
}
