/**
 * `socketlab serve --cluster N`: N worker processes behind one port, through node:cluster.
 *
 * The primary opens the listening socket and, with the round-robin policy Node uses on
 * Linux, accepts each connection itself and hands it to the next worker over IPC; the
 * workers are full socketlab servers. Round-robin because letting every worker accept
 * from a shared socket (SCHED_NONE) leaves the kernel to wake whichever process it likes,
 * and on Linux that piles most connections onto one or two of them (Node's own finding,
 * cluster docs).
 *
 * With SO_REUSEPORT (net.Server's `reusePort`, Node 22.12 and 23.1+) each worker binds the
 * port with a listening socket of its own and the kernel spreads new connections over them
 * by a hash of the 4-tuple: the primary is no longer on the accept path. Node then listens
 * in the worker itself (`reusePort` implies `exclusive`), so node:cluster never hears of it
 * and its 'listening' event does not fire: the worker says so over IPC (announceListening).
 * The primary holds the port meanwhile (see reservePort).
 */
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import { LAB_ERR, LabError } from '../errors.js';

/** Tells a worker it is one of a cluster, and which database its primary started for it. */
export const CLUSTER_ENV = {
  DB_URL: 'SOCKETLAB_CLUSTER_DB_URL',
  /** Set in a --reuse-port cluster: the port every worker binds with SO_REUSEPORT. */
  REUSE_PORT: 'SOCKETLAB_CLUSTER_REUSE_PORT',
} as const;

/** The IPC message a --reuse-port worker sends once it listens. */
const LISTENING_MESSAGE = 'socketlab:listening';

export interface ClusterPrimaryOptions {
  size: number;
  /** Passed to every worker (the embedded database's URL, for one). */
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /**
   * Every worker listens on host:port itself with SO_REUSEPORT (port 0: one free port the
   * primary picks for all of them); absent or null, the primary accepts (round-robin).
   */
  reusePort?: { host: string; port: number } | null;
}

export interface RunningCluster {
  host: string;
  port: number;
  workerPids: number[];
  /** SO_REUSEPORT: each worker has its own listening socket. */
  reusePort: boolean;
  /** SIGTERM every worker (each drains its connections) and wait for all to exit. */
  stop(): Promise<boolean>;
}

interface Listening {
  address: string;
  port: number;
}

/** Fork the workers and resolve once every one of them listens. */
export async function startClusterPrimary(options: ClusterPrimaryOptions): Promise<RunningCluster> {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const reuse = options.reusePort ?? null;
  const reserved = reuse === null ? null : await reservePort(reuse.host, reuse.port);
  const env = reserved === null ? options.env : { ...options.env, [CLUSTER_ENV.REUSE_PORT]: String(reserved.port) };
  const workers: Worker[] = [];
  let stopping = false;
  let failedWorkers = 0;
  const listening = Array.from({ length: options.size }, () => {
    const worker = cluster.fork(env);
    workers.push(worker);
    return new Promise<Listening>((resolve, reject) => {
      if (reserved === null) {
        worker.once('listening', (address) => resolve({ address: address.address ?? '127.0.0.1', port: address.port }));
      } else {
        const onMessage = (message: unknown): void => {
          if (!isListeningMessage(message)) return;
          worker.off('message', onMessage);
          resolve({ address: message.address, port: message.port });
        };
        worker.on('message', onMessage);
      }
      worker.once('exit', (code, signal) => {
        if (!stopping) {
          failedWorkers += 1;
          options.log(`worker pid ${worker.process.pid} exited (${code ?? signal})`);
        }
        reject(new LabError(LAB_ERR.LISTEN, `a cluster worker exited before listening (${code ?? signal}); see its message above`));
      });
    });
  });
  let first: Listening;
  try {
    [first] = (await Promise.all(listening)) as [Listening];
  } catch (error) {
    stopping = true;
    for (const worker of workers) worker.process.kill('SIGKILL');
    throw error;
  } finally {
    // Every worker's socket is in the group now (or the start failed): the primary's leaves it.
    await reserved?.release();
  }
  return {
    host: first.address,
    port: first.port,
    workerPids: workers.map((w) => w.process.pid as number),
    reusePort: reserved !== null,
    async stop() {
      stopping = true;
      const exits = workers.map(
        (worker) =>
          new Promise<boolean>((resolve) => {
            if (worker.process.exitCode !== null || worker.process.signalCode !== null) resolve(worker.process.exitCode === 0);
            else worker.once('exit', (code) => resolve(code === 0));
          }),
      );
      for (const worker of workers) worker.process.kill('SIGTERM');
      const clean = await Promise.all(exits);
      return failedWorkers === 0 && clean.every(Boolean);
    },
  };
}

/**
 * Hold host:port with a SO_REUSEPORT socket of the primary's own until the workers have
 * joined it. Port 0 needs it: every worker must bind the same number, and only a socket
 * that holds the number keeps another process from taking it between the pick and the
 * workers' bind. No client connects before the cluster reports it listens, so none lands
 * on the primary's socket before it is closed.
 */
async function reservePort(host: string, port: number): Promise<{ port: number; release(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // reusePort is in Node's ListenOptions from 22.12 (this project's @types/node is 20's).
    server.listen({ host, port, exclusive: true, reusePort: true } as net.ListenOptions, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function isListeningMessage(message: unknown): message is { type: string; address: string; port: number } {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === LISTENING_MESSAGE;
}

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** In a worker of a --reuse-port cluster: the port to bind with SO_REUSEPORT; null otherwise. */
export function reusePortOfWorker(): number | null {
  if (!cluster.isWorker) return null;
  const text = process.env[CLUSTER_ENV.REUSE_PORT];
  const port = text === undefined || text === '' ? Number.NaN : Number(text);
  return Number.isInteger(port) && port > 0 && port < 65_536 ? port : null;
}

/**
 * A worker tells its primary it listens. Only a --reuse-port worker needs to (its listen
 * never goes through the primary); in a round-robin cluster the primary ignores it.
 */
export function announceListening(address: { host: string; port: number }): void {
  if (!cluster.isWorker) return;
  process.send?.({ type: LISTENING_MESSAGE, address: address.host, port: address.port });
}

/**
 * Does this Node give net.Server SO_REUSEPORT? Asked of the runtime, not of its version:
 * two listeners bound to one port with `reusePort: true` both succeed where the option
 * exists (Node 22.12, 23.1 and later); older Nodes ignore the option and the second bind
 * fails with EADDRINUSE.
 */
export async function probeReusePort(host = '127.0.0.1'): Promise<boolean> {
  const listen = (port: number): Promise<net.Server | null> =>
    new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(null));
      server.listen({ host, port, exclusive: true, reusePort: true } as net.ListenOptions, () => resolve(server));
    });
  const close = (server: net.Server | null): Promise<void> => new Promise((resolve) => (server === null ? resolve() : server.close(() => resolve())));
  const first = await listen(0);
  if (first === null) return false;
  const second = await listen((first.address() as net.AddressInfo).port);
  await Promise.all([close(first), close(second)]);
  return second !== null;
}
