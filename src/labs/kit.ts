/**
 * What labs reach for: a server in its own process, a load run with its progress on the
 * step's spinner, the server's /stats, a throwaway Postgres, and honest checks for the
 * capabilities a step needs. Everything started here is tracked, so quitting a lab (or a
 * lab failing) stops it.
 */
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import path from 'node:path';
import { startServeProcess, type ServerProcess, type StartOptions } from './serve-process.js';
import { runLoad } from '../load/index.js';
import type { LoadOptions, LoadResult } from '../load/index.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../db/index.js';
import { formatNumber } from '../format/numbers.js';
import type { LabContext, Resource, StepContext } from './types.js';

/** The resource each started server was tracked as, so stopping it early forgets that one. */
const tracked = new WeakMap<ServerProcess, Resource>();

/** Start `socketlab serve` with these flags in its own process; stopped when the lab ends. */
export async function startLabServer(lab: LabContext, args: string[], options: StartOptions = {}): Promise<ServerProcess> {
  const server = await startServeProcess(args, options);
  const resource = lab.track({
    name: `socketlab serve pid ${server.pid}`,
    stop: async () => {
      await server.stop();
    },
  });
  tracked.set(server, resource);
  return server;
}

/** Stop a server the lab started (gracefully, SIGKILL after `deadlineMs`) and stop tracking it. */
export async function stopLabServer(lab: LabContext, server: ServerProcess, deadlineMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const exit = server.stop('SIGTERM', deadlineMs);
  const resource = tracked.get(server);
  // Its stop() joins the stop already under way (ServerProcess.stop is idempotent).
  if (resource !== undefined) await lab.release(resource);
  return exit;
}

/** A load run whose live numbers appear on the step's spinner and which stops when the user quits. */
export async function runLabLoad(step: StepContext, options: LoadOptions, label = ''): Promise<LoadResult> {
  const prefix = label === '' ? '' : `${label}: `;
  return runLoad(options, {
    signal: step.signal,
    onProgress: (p) => {
      const seconds = `${Math.round(p.elapsedMs / 1000)} s of ${Math.round(p.durationMs / 1000)} s`;
      step.progress(`${prefix}${seconds}, ${formatNumber(p.vus)} VUs, ${formatNumber(Math.round(p.rps))} req/s, ${formatNumber(p.errors)} errors`);
    },
  });
}

/** GET a JSON endpoint of a server the lab runs (/stats). */
export async function fetchJson<T = Record<string, unknown>>(url: string): Promise<T> {
  const response = await fetch(url, { headers: { connection: 'close' } });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return (await response.json()) as T;
}

/** The throwaway Postgres, stopped when the lab ends. */
export async function startLabDatabase(lab: LabContext, options: { rows?: number; maxConnections?: number } = {}): Promise<EmbeddedCluster> {
  const cluster = await startEmbeddedCluster(options);
  lab.track({ name: `postgres pid ${cluster.postmasterPid}`, stop: () => cluster.stop() });
  return cluster;
}

/**
 * Is `command` an executable file on PATH (or at that path, when it has a slash)? Looked up
 * the way execvp does, without a shell: the name is never parsed as shell words.
 */
export function hasCommand(command: string): boolean {
  if (command === '') return false;
  if (command.includes('/')) return isExecutableFile(command);
  // An empty PATH entry means the working directory to execvp; a lab never wants that.
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
  return dirs.some((dir) => isExecutableFile(path.join(dir, command)));
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export const ms = (value: number): number => Math.round(value * 1000) / 1000;
