/**
 * How many connections a busy event loop takes off the accept queue per turn: measured for
 * lab 2's reading of the loop model, because libuv's answer changed across versions.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { isUnavailable, readListenQueues } from '../metrics/index.js';

export interface AcceptsPerTurn {
  /** Connections waiting in the accept queue when the loop came back. */
  waiting: number;
  accepted: number;
  /** Loop turns (setImmediate ticks) over which they were accepted. */
  turns: number;
  maxPerTurn: number;
}

/**
 * How many connections this Node's loop takes off the accept queue per turn when many
 * wait, measured rather than assumed (libuv's answer changed across versions). A child
 * process opens `waiting` connections while this loop is held busy, synchronously, until
 * the kernel shows them all queued; then the loop runs, and each 'connection' is counted
 * against the turn (a setImmediate tick) it came in. The server runs on the same Node.
 * null where the accept queue cannot be read (no /proc/net/tcp).
 */
export async function measureAcceptsPerTurn(waiting: number): Promise<AcceptsPerTurn | null> {
  let turn = 0;
  let accepted = 0;
  const perTurn = new Map<number, number>();
  let allIn: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allIn = resolve));
  const server = net.createServer((socket) => {
    perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
    accepted += 1;
    socket.destroy();
    if (accepted >= waiting) allIn();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: waiting * 2 }, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const script = `const net=require('node:net');for(let i=0;i<${waiting};i++)net.connect(${port},'127.0.0.1').on('error',()=>{});setTimeout(()=>{},10000)`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  try {
    // Hold this loop, as a busy server's is held, until the kernel has queued every connection.
    const deadline = performance.now() + 5000;
    let queued = 0;
    while (queued < waiting && performance.now() < deadline) {
      const listeners = readListenQueues([port], undefined, [4]);
      if (isUnavailable(listeners)) return null;
      queued = listeners.reduce((sum, l) => sum + l.queued, 0);
    }
    const tick = (): void => {
      turn += 1;
      if (accepted < waiting && turn < 100_000) setImmediate(tick);
    };
    setImmediate(tick);
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    return { waiting: queued, accepted, turns: perTurn.size, maxPerTurn: Math.max(0, ...perTurn.values()) };
  } finally {
    child.kill();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
