// A light OpenAI-compatible streaming upstream for the long-stream benchmarks: each stream
// gets its role frame and first token at once, then one token every --interval-ms until
// --seconds have passed, then the finish frame, a usage frame and [DONE]. One timer drives
// every open stream, so 10,000 streams cost the upstream little. Speaks HTTP/1.1, or HTTP/2
// without upgrade (h2c) with --h2. Non-stream requests get a short JSON answer.
//   node bench/slow-upstream.mjs <port> [--h2] [--interval-ms 100] [--seconds 60]
import { createServer } from 'node:http';
import { createServer as createH2Server } from 'node:http2';

const args = process.argv.slice(2);
const port = Number(args[0]);
const opt = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const h2 = args.includes('--h2');
const intervalMs = opt('--interval-ms', 100);
const tokens = Math.max(1, Math.round((opt('--seconds', 60) * 1000) / intervalMs));

let nextId = 0;
/** Open streams: { write(text), end(text), sent, model, id } */
const open = new Set();

const frame = (s, delta, finish) =>
  `data: {"id":"${s.id}","object":"chat.completion.chunk","created":1,"model":"${s.model}","choices":[{"index":0,"delta":${delta},"finish_reason":${finish}}]}\n\n`;

function begin(s) {
  s.sent = 1;
  s.write(frame(s, '{"role":"assistant","content":""}', 'null') + frame(s, '{"content":"tok0"}', 'null'));
  if (s.sent >= tokens) finish(s);
  else open.add(s);
}

function finish(s) {
  open.delete(s);
  const usage = `{"prompt_tokens":9,"completion_tokens":${tokens},"total_tokens":${9 + tokens}}`;
  s.end(`${frame(s, '{}', '"stop"')}data: {"id":"${s.id}","object":"chat.completion.chunk","created":1,"model":"${s.model}","choices":[],"usage":${usage}}\n\ndata: [DONE]\n\n`);
}

setInterval(() => {
  for (const s of open) {
    s.write(frame(s, `{"content":" tok${s.sent}"}`, 'null'));
    s.sent++;
    if (s.sent >= tokens) finish(s);
  }
}, intervalMs);

/** Handles one parsed request body with the protocol's respond/write/end. */
function handle(body, respond, write, end, onClose) {
  let req;
  try {
    req = JSON.parse(body);
  } catch {
    respond(400, 'application/json');
    end('{"error":{"message":"bad json","type":"invalid_request_error"}}');
    return;
  }
  const s = { id: `chatcmpl-${++nextId}`, model: String(req.model ?? 'slow'), sent: 0, write, end };
  if (req.stream !== true) {
    respond(200, 'application/json');
    end(
      JSON.stringify({
        id: s.id,
        object: 'chat.completion',
        created: 1,
        model: s.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'tok0' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 },
      }),
    );
    return;
  }
  respond(200, 'text/event-stream');
  onClose(() => open.delete(s));
  begin(s);
}

if (h2) {
  const server = createH2Server({ settings: { maxConcurrentStreams: 1000 } });
  server.on('stream', (stream) => {
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => (body += d));
    stream.on('error', () => {});
    stream.on('end', () =>
      handle(
        body,
        (status, type) => stream.respond({ ':status': status, 'content-type': type }),
        (text) => !stream.destroyed && stream.write(text),
        (text) => !stream.destroyed && stream.end(text),
        (fn) => stream.on('close', fn),
      ),
    );
  });
  server.listen(port, '127.0.0.1', () => console.log(`slow upstream (h2c) listening on ${port}`));
} else {
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () =>
      handle(
        body,
        (status, type) => res.writeHead(status, { 'content-type': type }),
        (text) => !res.destroyed && res.write(text),
        (text) => !res.destroyed && res.end(text),
        (fn) => res.on('close', fn),
      ),
    );
  });
  server.maxRequestsPerSocket = 0;
  server.listen(port, '127.0.0.1', 20000, () => console.log(`slow upstream (http/1.1) listening on ${port}`));
}
