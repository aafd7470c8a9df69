// Reading Server-Sent Events from a fetch Response: whole streams, or incrementally until
// something arrives, with a deadline so a broken gateway fails a test instead of hanging it.

/** Splits an SSE body into its events (the text between blank lines, without the separator). */
export function sseEvents(text: string): string[] {
  const events = text.split('\n\n');
  // The text after the last separator is an unfinished event (or empty).
  events.pop();
  return events;
}

/** The JSON payloads of `data: {...}` events, in order ([DONE] and comments skipped). */
export function sseJson(text: string): Array<Record<string, unknown>> {
  return sseEvents(text)
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
}

/** Concatenated `delta.content` of every chunk. */
export function sseContent(text: string): string {
  let out = '';
  for (const chunk of sseJson(text)) {
    const choices = (chunk.choices ?? []) as Array<{ delta?: { content?: string | null } }>;
    for (const c of choices) if (typeof c.delta?.content === 'string') out += c.delta.content;
  }
  return out;
}

/** Rejects after `ms` with a message naming what was awaited; never keeps the process alive. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Incremental reader over a fetch body. */
export class StreamReader {
  text = '';
  done = false;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();

  constructor(res: Response) {
    if (!res.body) throw new Error('response has no body');
    this.reader = res.body.getReader();
  }

  /** Reads until `predicate(text)` holds (or the stream ends); returns the text so far. */
  async until(predicate: (text: string) => boolean, ms = 3000, what = 'stream data'): Promise<string> {
    const run = async () => {
      while (!predicate(this.text) && !this.done) {
        const step = await this.reader.read();
        if (step.done) this.done = true;
        else this.text += this.decoder.decode(step.value, { stream: true });
      }
      return this.text;
    };
    return within(run(), ms, what);
  }

  /** Reads to the end. */
  async rest(ms = 3000): Promise<string> {
    return this.until(() => false, ms, 'the end of the stream');
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}
