/**
 * The cluster `socketlab db start` keeps up for exploring by hand: one at a time, its URL and
 * postmaster PID recorded in <state dir>/db.json so that `db status` and `db stop`, run later
 * from other processes, find it. Its postmaster is detached: it outlives the command.
 */
import fs from 'node:fs';
import path from 'node:path';
import { removeTree } from './cluster-files.js';
import { adoptCluster, CLUSTER_LAYOUT, resolveRunAsUser, startEmbeddedCluster, stateDir, type EmbeddedCluster } from './cluster.js';
import { isPidAlive } from './processes.js';

export interface ManualClusterState {
  /** Names the password file, not the password: safe to print (see credentials.ts). */
  url: string;
  port: number;
  /** The 0600 password file only the user who ran `db start` can read. */
  passfile: string;
  postmasterPid: number;
  folder: string;
  version: string;
  rows: number;
  maxConnections: number;
  startedAt: string;
  /** psql on PATH, or the one next to the server binaries. */
  psql: string | null;
}

export interface ManualClusterStatus {
  running: boolean;
  /** The recorded state (also when its postmaster is gone: a crash or a reboot). */
  state: ManualClusterState | null;
}

export function manualStateFile(): string {
  return path.join(stateDir(), 'db.json');
}

function readState(): ManualClusterState | null {
  try {
    return JSON.parse(fs.readFileSync(manualStateFile(), 'utf8')) as ManualClusterState;
  } catch {
    return null;
  }
}

function writeState(state: ManualClusterState): void {
  const file = manualStateFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(temporary, file);
}

function removeState(): void {
  fs.rmSync(manualStateFile(), { force: true });
}

function adopt(state: ManualClusterState): EmbeddedCluster | null {
  return adoptCluster(state.folder, state.port, state.rows, state.maxConnections);
}

export function manualClusterStatus(): ManualClusterStatus {
  const state = readState();
  if (state === null) return { running: false, state: null };
  return { running: isPidAlive(state.postmasterPid) && adopt(state) !== null, state };
}

export interface ManualStartOptions {
  rows?: number;
  maxConnections?: number;
  sharedBuffers?: string;
  log?: (line: string) => void;
}

/** Start the manual cluster, or report the one already running. */
export async function startManualCluster(options: ManualStartOptions): Promise<{ state: ManualClusterState; alreadyRunning: boolean }> {
  const status = manualClusterStatus();
  if (status.running && status.state !== null) return { state: status.state, alreadyRunning: true };
  // A stale record (crash, reboot): its folder is reused by name, the record replaced.
  removeState();
  const cluster = await startEmbeddedCluster({ ...options, name: CLUSTER_LAYOUT.MANUAL, detached: true });
  const state: ManualClusterState = {
    url: cluster.url,
    port: cluster.port,
    passfile: cluster.passfile,
    postmasterPid: cluster.postmasterPid,
    folder: cluster.folder,
    version: cluster.version,
    rows: cluster.rows,
    maxConnections: cluster.maxConnections,
    startedAt: new Date().toISOString(),
    psql: cluster.binaries.psql,
  };
  writeState(state);
  return { state, alreadyRunning: false };
}

/** Stop the manual cluster and delete its folder. Returns what was stopped, or null if nothing ran. */
export async function stopManualCluster(): Promise<{ state: ManualClusterState; wasRunning: boolean } | null> {
  const state = readState();
  if (state === null) return null;
  const cluster = adopt(state);
  if (cluster !== null) await cluster.stop();
  // Only ever delete what db start created: a record edited to point elsewhere is left alone.
  else if (state.folder.endsWith(path.join(CLUSTER_LAYOUT.CLUSTERS, CLUSTER_LAYOUT.MANUAL))) await removeTree(state.folder, resolveRunAsUser());
  removeState();
  return { state, wasRunning: cluster !== null };
}
