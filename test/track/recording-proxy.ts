// A pass-through HTTP proxy on 127.0.0.1 in front of the real MLflow server that records the
// Authorization header of every request: the test server accepts any credentials, so this is
// how a test sees that the right ones were sent.
import { createServer, request, type Server } from 'node:http';

export interface RecordingProxy {
  uri: string;
  /** The Authorization header of each request, in order ('' when none). */
  authorizations: string[];
  close(): Promise<void>;
}

export async function recordingProxy(target: string): Promise<RecordingProxy> {
  const to = new URL(target);
  const authorizations: string[] = [];
  const server: Server = createServer((req, res) => {
    authorizations.push(req.headers.authorization ?? '');
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const uri = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { uri, authorizations, close: () => new Promise<void>((done) => server.close(() => done())) };
}
