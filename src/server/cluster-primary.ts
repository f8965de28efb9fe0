/**
 * `socketlab serve --cluster N`: N worker processes behind one port, through node:cluster.
 *
 * The primary opens the listening socket and, with the round-robin policy Node uses on
 * Linux, accepts each connection itself and hands it to the next worker over IPC; the
 * workers are full socketlab servers. Round-robin because letting every worker accept
 * from a shared socket (SCHED_NONE) leaves the kernel to wake whichever process it likes,
 * and on Linux that piles most connections onto one or two of them (Node's own finding,
 * cluster docs). SO_REUSEPORT (one listening socket per worker, balanced by the kernel)
 * would avoid the primary, but net.Server only offers it from Node 22.12.
 */
import cluster, { type Worker } from 'node:cluster';
import { LAB_ERR, LabError } from '../errors.js';

/** Tells a worker it is one of a cluster, and which database its primary started for it. */
export const CLUSTER_ENV = {
  DB_URL: 'SOCKETLAB_CLUSTER_DB_URL',
} as const;

export interface ClusterPrimaryOptions {
  size: number;
  /** Passed to every worker (the embedded database's URL, for one). */
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

export interface RunningCluster {
  host: string;
  port: number;
  workerPids: number[];
  /** SIGTERM every worker (each drains its connections) and wait for all to exit. */
  stop(): Promise<boolean>;
}

/** Fork the workers and resolve once every one of them listens. */
export async function startClusterPrimary(options: ClusterPrimaryOptions): Promise<RunningCluster> {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const workers: Worker[] = [];
  let stopping = false;
  let failedWorkers = 0;
  const listening = Array.from({ length: options.size }, () => {
    const worker = cluster.fork(options.env);
    workers.push(worker);
    return new Promise<{ address: string; port: number }>((resolve, reject) => {
      worker.once('listening', (address) => resolve({ address: address.address ?? '127.0.0.1', port: address.port }));
      worker.once('exit', (code, signal) => {
        if (!stopping) {
          failedWorkers += 1;
          options.log(`worker pid ${worker.process.pid} exited (${code ?? signal})`);
        }
        reject(new LabError(LAB_ERR.LISTEN, `a cluster worker exited before listening (${code ?? signal}); see its message above`));
      });
    });
  });
  let first: { address: string; port: number };
  try {
    [first] = (await Promise.all(listening)) as [{ address: string; port: number }];
  } catch (error) {
    stopping = true;
    for (const worker of workers) worker.process.kill('SIGKILL');
    throw error;
  }
  return {
    host: first.address,
    port: first.port,
    workerPids: workers.map((w) => w.process.pid as number),
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

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}
