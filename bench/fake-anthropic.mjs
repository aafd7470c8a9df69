// A fast fake Anthropic Messages upstream (no gates, no delays) for the stream benchmarks:
// one content event per word of the last user message, the usage Anthropic reports.
// Never run by CI.
//   node bench/fake-anthropic.mjs PORT
import { createServer as createHttpServer } from 'node:http';

const args = process.argv.slice(2);
const port = Number(args[0]);
const frame = (data) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
let n = 0;
const server = createHttpServer((req, res) => {
  req.socket.setNoDelay(true);
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    const last = body.messages[body.messages.length - 1];
    const text = typeof last.content === 'string' ? last.content : last.content.map((b) => b.text ?? '').join('');
    const words = (text.startsWith('echo:') ? text.slice(5).trimStart() : text).match(/\s*\S+\s*/g) ?? [];
    const id = `msg_bench${++n}`;
    const usage = { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id, type: 'message', role: 'assistant', model: body.model, content: [{ type: 'text', text: words.join('') }], stop_reason: 'end_turn', stop_sequence: null, usage: { ...usage, output_tokens: words.length } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    res.write(frame({ type: 'message_start', message: { id, type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage } }));
    res.write(frame({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
    res.write(frame({ type: 'ping' }));
    for (const w of words) res.write(frame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: w } }));
    res.write(frame({ type: 'content_block_stop', index: 0 }));
    res.write(frame({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: words.length } }));
    res.end(frame({ type: 'message_stop' }));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
