/**
 * The ceiling baseline: a node:net server that parses nothing and answers every request
 * with the same fixed bytes. It finds the end of each request head (CRLFCRLF) and nothing
 * else, so its cost is Node's socket I/O alone. socketlab's own server is measured against
 * it: the gap is what parsing, routing, timing and correctness cost.
 *
 * Run: node dist/bench/baselines/naive-server.js [--port P] [--host H]
 */
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const BODY = '{"birthdate":"1993-05-01","age":33}';
const RESPONSE = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`, 'latin1');

/** Counts request heads in a stream, carrying the partial terminator across chunks. */
function countHeads(chunk: Buffer, state: { matched: number }): number {
  const TERMINATOR = [13, 10, 13, 10];
  let heads = 0;
  let matched = state.matched;
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i];
    if (byte === TERMINATOR[matched]) {
      matched += 1;
      if (matched === 4) {
        heads += 1;
        matched = 0;
      }
    } else {
      matched = byte === 13 ? 1 : 0;
    }
  }
  state.matched = matched;
  return heads;
}

export function startNaiveServer(port = 0, host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    const state = { matched: 0 };
    socket.on('data', (chunk: Buffer) => {
      const heads = countHeads(chunk, state);
      if (heads === 1) socket.write(RESPONSE);
      else if (heads > 1) socket.write(Buffer.concat(Array.from({ length: heads }, () => RESPONSE)));
    });
    socket.on('error', () => socket.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 4096 }, () => resolve(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { runBaselineFromCli } = await import('./run-baseline.js');
  await runBaselineFromCli('naive', startNaiveServer);
}
