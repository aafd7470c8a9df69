// POST /v1/audio/transcriptions and /v1/audio/translations: the form fields a request may send,
// the duration of a WAV file read from its header, and the bounds a reservation uses.
import { GatewayError } from './errors.js';

export type AudioOperation = 'transcriptions' | 'translations';

/** Form fields besides `file`, with whether they may repeat. */
const AUDIO_FIELDS: Record<AudioOperation, ReadonlySet<string>> = {
  transcriptions: new Set(['model', 'language', 'prompt', 'response_format', 'temperature', 'timestamp_granularities[]', 'include[]', 'chunking_strategy']),
  translations: new Set(['model', 'prompt', 'response_format', 'temperature']),
};
const REPEATABLE = new Set(['timestamp_granularities[]', 'include[]']);
export const AUDIO_FORMATS = ['json', 'text', 'srt', 'vtt', 'verbose_json'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];
export const MAX_FIELD_BYTES = 64 * 1024;
export const MAX_FIELDS = 32;

/**
 * A lower bound on the bitrate of any audio a client may send (16 kbit/s, below common speech
 * codecs' settings), so bytes / this is an upper bound on seconds when the header gives none.
 */
export const MIN_AUDIO_BYTES_PER_SECOND = 2000;
/** Audio input tokens per second assumed by the reservation of a token-priced model (above what speech models count). */
export const AUDIO_TOKENS_PER_SECOND_BOUND = 50;
/** Text tokens per second of speech assumed by the reservation (fast speech is ~4). */
export const TEXT_TOKENS_PER_SECOND_BOUND = 10;

export interface AudioFields {
  model: string;
  responseFormat: AudioFormat;
  /** every field as received, in order, `model` included */
  fields: Array<[string, string]>;
}

const invalid = (param: string, message: string) => new GatewayError('invalid_value', message, { param });

export function validateAudioFields(op: AudioOperation, fields: Array<[string, string]>, hasFile: boolean): AudioFields {
  const allowed = AUDIO_FIELDS[op];
  const seen = new Set<string>();
  for (const [name, value] of fields) {
    if (name === 'stream') throw new GatewayError('unsupported_parameter', 'Streamed transcriptions are not served; leave "stream" unset.', { param: 'stream' });
    if (!allowed.has(name)) throw new GatewayError('unknown_parameter', `Unknown field "${name}" for /v1/audio/${op}.`, { param: name });
    if (seen.has(name) && !REPEATABLE.has(name)) throw invalid(name, `The field "${name}" is given more than once.`);
    seen.add(name);
    if (name === 'temperature' && !(value.trim() !== '' && Number.isFinite(Number(value)) && Number(value) >= 0 && Number(value) <= 1)) {
      throw invalid('temperature', '"temperature" must be a number from 0 to 1.');
    }
  }
  if (!hasFile) throw new GatewayError('missing_required_parameter', 'Missing required field "file" (the audio, as a multipart file part).', { param: 'file' });
  const model = fields.find(([n]) => n === 'model')?.[1];
  if (model === undefined) throw new GatewayError('missing_required_parameter', 'Missing required field "model".', { param: 'model' });
  if (model === '') throw invalid('model', '"model" must be a non-empty string.');
  const format = fields.find(([n]) => n === 'response_format')?.[1] ?? 'json';
  if (!(AUDIO_FORMATS as readonly string[]).includes(format)) throw invalid('response_format', `"response_format" must be one of ${AUDIO_FORMATS.join(', ')}.`);
  return { model, responseFormat: format as AudioFormat, fields };
}

/**
 * The duration in seconds of a RIFF/WAVE file from its first bytes (the `fmt ` and `data`
 * chunks), or undefined when they are not a WAV header. `fileSize` covers a streamed WAV whose
 * data chunk declares no length.
 */
export function wavDurationSeconds(head: Buffer, fileSize: number): number | undefined {
  if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') return undefined;
  let pos = 12;
  let byteRate: number | undefined;
  while (pos + 8 <= head.length) {
    const id = head.toString('latin1', pos, pos + 4);
    const size = head.readUInt32LE(pos + 4);
    if (id === 'fmt ' && pos + 20 <= head.length) byteRate = head.readUInt32LE(pos + 16);
    if (id === 'data') {
      if (!byteRate) return undefined;
      const available = fileSize - (pos + 8);
      const bytes = size === 0xffffffff || size === 0 || size > available ? available : size;
      return Math.max(0, bytes) / byteRate;
    }
    pos += 8 + size + (size % 2);
  }
  return undefined;
}

/** What the upstream's answer says about the audio's length and the tokens it used. */
export function reportedAudioUsage(body: string, format: AudioFormat): { seconds?: number; inputTokens?: number; outputTokens?: number; text?: string } {
  if (format !== 'json' && format !== 'verbose_json') return { text: body };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { text: body };
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const p = parsed as { duration?: unknown; text?: unknown; usage?: { type?: unknown; seconds?: unknown; input_tokens?: unknown; output_tokens?: unknown } };
  const out: { seconds?: number; inputTokens?: number; outputTokens?: number; text?: string } = {};
  if (typeof p.text === 'string') out.text = p.text;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
  out.seconds = num(p.duration) ?? (p.usage?.type === 'duration' ? num(p.usage.seconds) : undefined);
  const input = num(p.usage?.input_tokens);
  const output = num(p.usage?.output_tokens);
  if (input !== undefined && output !== undefined) {
    out.inputTokens = input;
    out.outputTokens = output;
  }
  return out;
}

/** An upload as received: its text fields in order and its file, spooled to a temporary file. */
export interface AudioUpload {
  fields: Array<[string, string]>;
  /** `head`: the file's first bytes (for the WAV header) */
  file: { path: string; size: number; filename: string; contentType: string; head: Buffer } | undefined;
  /** Removes the temporary file. */
  dispose(): Promise<void>;
}
