// A pass-through HTTP proxy in front of the real MLflow server that can be taken down: while
// down it answers every request 503, as a server that is restarting or overloaded does.
import { createServer, request, type Server } from 'node:http';

export interface FlakyProxy {
  uri: string;
  down(): void;
  up(): void;
  /** Requests refused while down. */
  refused: () => number;
  close(): Promise<void>;
}

export async function flakyProxy(target: string): Promise<FlakyProxy> {
  const to = new URL(target);
  let isDown = false;
  let refused = 0;
  const server: Server = createServer((req, res) => {
    if (isDown) {
      refused++;
      req.resume();
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('down for the test');
      return;
    }
    const upstream = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const uri = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    uri,
    down: () => void (isDown = true),
    up: () => void (isDown = false),
    refused: () => refused,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
