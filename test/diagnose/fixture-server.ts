/**
 * Servers socketlab did not write, for diagnose's planted bottlenecks: each prints
 * `listening on http://HOST:PORT pid=N` when ready (what startServerProcess waits for) and
 * stops on SIGTERM.
 *
 *   --kind cpu   node:http; every request burns --work-ms of CPU in a busy loop before it
 *                answers: one core's worth of work per request, on one thread.
 *   --kind net   a plain node:net server: finds the end of each request head (CRLFCRLF) and
 *                answers with fixed bytes, keep-alive; --body-bytes sets the body size.
 *                --delay-ms holds each response that long first (a backend call that
 *                waits without computing), so the server's CPU stays idle. Accept errors
 *                (EMFILE under a low RLIMIT_NOFILE) are logged, not fatal, as a production
 *                server would do.
 *
 * Run: node dist/test/diagnose/fixture-server.js --kind cpu|net [--host H] [--port P] [--work-ms N] [--body-bytes N] [--delay-ms N]
 */
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'net' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'work-ms': { type: 'string', default: '2' },
    'body-bytes': { type: 'string', default: '35' },
    'delay-ms': { type: 'string', default: '0' },
  },
});

const host = values.host as string;
const port = Number(values.port);

function burn(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: the point of this server
  }
}

function announce(server: net.Server): void {
  const address = server.address() as net.AddressInfo;
  process.stdout.write(`listening on http://${host}:${address.port} pid=${process.pid} kind=${values.kind}\n`);
}

let server: net.Server;
if (values.kind === 'cpu') {
  const workMs = Number(values['work-ms']);
  server = http.createServer((_request, response) => {
    burn(workMs);
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    response.end('ok');
  });
} else {
  const body = 'x'.repeat(Number(values['body-bytes']));
  const delayMs = Number(values['delay-ms']);
  const bytes = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'latin1');
  server = net.createServer({ noDelay: true }, (socket) => {
    let matched = 0;
    socket.on('data', (chunk: Buffer) => {
      let heads = 0;
      for (const byte of chunk) {
        // CRLFCRLF ends a head; GET requests carry no body.
        if (byte === [13, 10, 13, 10][matched]) {
          matched += 1;
          if (matched === 4) {
            heads += 1;
            matched = 0;
          }
        } else matched = byte === 13 ? 1 : 0;
      }
      for (let i = 0; i < heads; i++) {
        if (delayMs > 0) setTimeout(() => socket.writable && socket.write(bytes), delayMs);
        else socket.write(bytes);
      }
    });
    socket.on('error', () => socket.destroy());
  });
}

server.once('error', (error) => {
  process.stderr.write(`listen: ${error.message}\n`);
  process.exit(1);
});
server.listen({ host, port, backlog: 511 }, () => {
  server.removeAllListeners('error');
  server.on('error', (error) => process.stderr.write(`accept: ${error.message}\n`));
  announce(server);
});
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
