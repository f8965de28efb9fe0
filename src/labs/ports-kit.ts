/**
 * What the ports-and-keepalive lab needs beyond the kit: the TCP states of one port as seen
 * from inside any network namespace, and a load run inside a namespace.
 *
 * /proc/net/tcp shows the namespace of the process that reads it. /proc/PID/net/tcp shows
 * the namespace of PID instead, so the lab reads the table through the server's PID: the
 * same code then counts TIME_WAIT on the host's loopback and inside a private namespace,
 * without entering it.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { censusTcpText, type PortCensus } from '../metrics/index.js';
import type { LoadResult } from '../load/index.js';
import { SOCKETLAB_CLI } from '../server/serve-process.js';
import { LAB_ERR, LabError } from '../errors.js';
import type { Namespace } from './netns.js';

/** The connections on `port` in the network namespace of `pid`, split into server and client ends. */
export async function readPortCensus(pid: number, port: number): Promise<PortCensus | null> {
  const texts: { text: string; family: 4 | 6 }[] = [];
  for (const [file, family] of [['tcp', 4], ['tcp6', 6]] as const) {
    try {
      texts.push({ text: await readFile(`/proc/${pid}/net/${file}`, 'latin1'), family });
    } catch {
      // No IPv6 in this kernel, or the process is gone.
    }
  }
  if (texts.length === 0) return null;
  return censusTcpText(texts, [port]).ports[0] ?? null;
}

export interface TimeWaitWatch {
  /** Stop polling; the most TIME_WAIT seen on each end, and the last reading. */
  stop(): Promise<TimeWaitPeak>;
}

export interface TimeWaitPeak {
  /** TIME_WAIT sockets held by clients of the port (the client closed first). */
  client: number;
  /** TIME_WAIT sockets held by the server's end (the server closed first). */
  server: number;
  /** Readings taken. */
  readings: number;
}

/**
 * Poll the port's census every `intervalMs` and keep the peaks. Each read walks the
 * namespace's whole socket table (tens of ms at 20,000 TIME_WAIT sockets), which is why
 * the interval is not shorter: the load generator runs on this same event loop.
 */
export function watchTimeWait(pid: number, port: number, intervalMs = 500): TimeWaitWatch {
  const peak: TimeWaitPeak = { client: 0, server: 0, readings: 0 };
  let stopped = false;
  let wake: (() => void) | null = null;
  const read = async (): Promise<void> => {
    const census = await readPortCensus(pid, port);
    if (census === null) return;
    peak.readings += 1;
    peak.client = Math.max(peak.client, census.client.TIME_WAIT);
    peak.server = Math.max(peak.server, census.server.TIME_WAIT);
  };
  // The next read starts an interval after the previous one ended, so slow reads never pile up.
  const loop = (async () => {
    while (!stopped) {
      await read();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      (wake as (() => void) | null)?.();
      await loop;
      // One last look: the last connections of the run closed just now.
      await read();
      return { ...peak };
    },
  };
}

/**
 * `socketlab load URL ...flags --json FILE` inside the namespace, to completion; the
 * LoadResult it wrote. Quitting the lab (signal) sends SIGINT, which ends the run early
 * with a result, as Ctrl-C does for a person.
 */
export async function runLoadInNamespace(ns: Namespace, url: string, flags: string[], signal: AbortSignal): Promise<LoadResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'socketlab-ports-'));
  const file = path.join(dir, 'load.json');
  try {
    // `ip netns exec` execs the command after entering the namespace: the child's PID is node's.
    const child = ns.spawn(process.execPath, [SOCKETLAB_CLI, 'load', url, ...flags, '--json', file]);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout?.resume();
    const onAbort = (): void => void child.kill('SIGINT');
    signal.addEventListener('abort', onAbort, { once: true });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode) => resolve(exitCode));
    }).finally(() => signal.removeEventListener('abort', onAbort));
    if (code !== 0) throw new LabError(LAB_ERR.UNSUPPORTED, `socketlab load inside namespace ${ns.name} exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return JSON.parse(await readFile(file, 'utf8')) as LoadResult;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
