/**
 * A throwaway PostgreSQL cluster, private to one socketlab process (or kept up on purpose by
 * `socketlab db start`).
 *
 * Lifecycle: find the server binaries → pick the folder (under the project's .socketlab/, or
 * under the temp dir when the postgres user cannot reach the project) → remove clusters left
 * by crashed runs → copy a cluster initialised once by initdb (the template) → start
 * `postgres` on a free loopback port → poll a real connection until it answers → seed kv.
 * Stop: fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL, each with a deadline,
 * and the folder is deleted. Every PID signalled here is one this module started (or one a
 * previous socketlab run started, found through that run's owner file and verified by its
 * command line).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LAB_ERR, LabError, errnoCode } from '../errors.js';
import { findPgBinaries, type PgBinaries } from './binaries.js';
import {
  canUserReach,
  isPidAlive,
  isSameProcessAlive,
  lookupUser,
  processCommandLine,
  processStartTime,
  signalPid,
  waitForPidExit,
  type SystemUser,
} from './processes.js';
import { createKv, firstLine, KV, withControlClient } from './seed.js';

export const CLUSTER_DEFAULTS = {
  MAX_CONNECTIONS: 300,
  /** Postgres's own default; enough for kv (1000 rows fit in a few pages) and the labs. */
  SHARED_BUFFERS: '128MB',
  START_TIMEOUT_MS: 30_000,
  /** Per shutdown step: fast, then immediate, then SIGKILL. */
  STOP_STEP_TIMEOUT_MS: 10_000,
  /** A free port found by binding port 0 can be taken before postgres binds it: retry that many times. */
  PORT_ATTEMPTS: 5,
  READY_POLL_MS: 25,
  INITDB_TIMEOUT_MS: 120_000,
  /** Users tried, in order, for running postgres when socketlab runs as root. */
  RUN_AS_USERS: ['postgres', 'nobody'],
} as const;

/** Names inside the clusters folder. */
export const CLUSTER_LAYOUT = {
  CLUSTERS: 'clusters',
  /** The folder `socketlab db start` uses: one manual cluster at a time. */
  MANUAL: 'manual',
  OWNER_FILE: 'owner.json',
  DATA: 'data',
  LOG: 'postgres.log',
  /** How many stale entries one start looks at: a bound, not an expected number. */
  REAP_LIMIT: 200,
} as const;

/** The project folder (three levels above dist/src/db/), whose .socketlab/ git ignores. */
export const PROJECT_DIR = fileURLToPath(new URL('../../../', import.meta.url));

/** Where socketlab keeps machine-local state: SOCKETLAB_STATE_DIR, or <project>/.socketlab. */
export function stateDir(): string {
  return process.env.SOCKETLAB_STATE_DIR ?? path.join(PROJECT_DIR, '.socketlab');
}

export interface ClusterOptions {
  /** Rows seeded into kv (ids 1..rows). Default 1000. */
  rows?: number;
  /** Default 300, like the seed project. */
  maxConnections?: number;
  /** A Postgres size such as '128MB'. */
  sharedBuffers?: string;
  /** The folder that holds template and clusters; default <state dir>/pg (see stateDir()). */
  dir?: string;
  /** The cluster's folder name under clusters/; default unique to this start. */
  name?: string;
  /**
   * Keep postgres running after this process exits (`socketlab db start`). A detached cluster
   * is not stopped on exit or by the stale-folder sweep: only stopCluster...() ends it.
   */
  detached?: boolean;
  /** One line per notable event (template created, folder relocated, stale cluster removed). */
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface EmbeddedCluster {
  /** postgresql://postgres@127.0.0.1:PORT/postgres (trust auth on loopback, see docs/database.md). */
  readonly url: string;
  readonly port: number;
  /** The cluster's folder (holds data/, postgres.log and owner.json). */
  readonly folder: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The postmaster's PID; it changes after resume(). 0 while halted. */
  readonly postmasterPid: number;
  readonly version: string;
  readonly binaries: PgBinaries;
  readonly rows: number;
  readonly maxConnections: number;
  /** The user postgres runs as when socketlab is root, else null. */
  readonly runAs: string | null;
  /** Milliseconds the last start took, split by phase: what the template saves is visible here. */
  readonly timings: ClusterTimings;
  running(): boolean;
  /**
   * Stop postgres but keep its data and port: the "database went away" lab. 'fast' ends each
   * backend with a FATAL message to its client; 'immediate' drops connections without one.
   */
  halt(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Start the halted cluster again on the same port, same data. */
  resume(): Promise<void>;
  /** Stop postgres and delete the folder. Idempotent. */
  stop(): Promise<void>;
}

export interface ClusterTimings {
  templateMs: number;
  copyMs: number;
  startMs: number;
  seedMs: number;
}

interface OwnerRecord {
  ownerPid: number;
  ownerStartTime: number | null;
  detached: boolean;
  createdAt: string;
}

const defaultLog = (line: string): void => {
  process.stderr.write(`socketlab db: ${line}\n`);
};

/**
 * Start a private cluster and resolve once it answers queries with kv seeded.
 * Throws LabError PG_MISSING (no binaries) or PG_CLUSTER (anything else, with the log's last
 * FATAL line and the log's path).
 */
export async function startEmbeddedCluster(options: ClusterOptions = {}): Promise<EmbeddedCluster> {
  const log = options.log ?? defaultLog;
  const binaries = findPgBinaries();
  const runAs = resolveRunAsUser();
  const root = resolveClusterRoot(options.dir ?? path.join(stateDir(), 'pg'), runAs, log);
  await reapStaleClusters(root, log);

  const timings: ClusterTimings = { templateMs: 0, copyMs: 0, startMs: 0, seedMs: 0 };
  let mark = performance.now();
  const template = await ensureTemplate(root, binaries, runAs, log);
  timings.templateMs = Math.round(performance.now() - mark);

  const name = options.name ?? `${process.pid}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const folder = path.join(root, CLUSTER_LAYOUT.CLUSTERS, name);
  mark = performance.now();
  await createClusterFolder(folder, template, runAs, options.detached === true);
  timings.copyMs = Math.round(performance.now() - mark);

  const cluster = new PostgresCluster({
    folder,
    binaries,
    runAs,
    rows: options.rows ?? KV.DEFAULT_ROWS,
    maxConnections: options.maxConnections ?? CLUSTER_DEFAULTS.MAX_CONNECTIONS,
    sharedBuffers: options.sharedBuffers ?? CLUSTER_DEFAULTS.SHARED_BUFFERS,
    detached: options.detached === true,
    startTimeoutMs: options.startTimeoutMs ?? CLUSTER_DEFAULTS.START_TIMEOUT_MS,
    timings,
  });
  try {
    mark = performance.now();
    await cluster.startOnFreePort();
    timings.startMs = Math.round(performance.now() - mark);
    mark = performance.now();
    await withControlClient(cluster.url, (client) => createKv(client, cluster.rows));
    timings.seedMs = Math.round(performance.now() - mark);
  } catch (error) {
    await cluster.stop().catch(() => {});
    if (error instanceof LabError) throw error;
    throw new LabError(LAB_ERR.PG_CLUSTER, `the throwaway cluster failed to seed kv: ${firstLine(error)} (log: ${cluster.logFile})`, { cause: error });
  }
  return cluster;
}

interface ClusterConfig {
  folder: string;
  binaries: PgBinaries;
  runAs: SystemUser | null;
  rows: number;
  maxConnections: number;
  sharedBuffers: string;
  detached: boolean;
  startTimeoutMs: number;
  timings: ClusterTimings;
  /** Set when adopting a running detached cluster (db stop/status). */
  port?: number;
  pid?: number;
}

class PostgresCluster implements EmbeddedCluster {
  readonly folder: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly binaries: PgBinaries;
  readonly rows: number;
  readonly maxConnections: number;
  readonly timings: ClusterTimings;
  private readonly config: ClusterConfig;
  private portNumber = 0;
  private pid = 0;
  private child: ChildProcess | null = null;
  private childExit: Promise<void> | null = null;
  private stopped = false;

  constructor(config: ClusterConfig) {
    this.config = config;
    this.folder = config.folder;
    this.dataDir = path.join(config.folder, CLUSTER_LAYOUT.DATA);
    this.logFile = path.join(config.folder, CLUSTER_LAYOUT.LOG);
    this.binaries = config.binaries;
    this.rows = config.rows;
    this.maxConnections = config.maxConnections;
    this.timings = config.timings;
    this.portNumber = config.port ?? 0;
    this.pid = config.pid ?? 0;
  }

  get url(): string {
    return clusterUrl(this.portNumber);
  }
  get port(): number {
    return this.portNumber;
  }
  get postmasterPid(): number {
    return this.pid;
  }
  get version(): string {
    return this.binaries.version;
  }
  get runAs(): string | null {
    return this.config.runAs?.name ?? null;
  }

  running(): boolean {
    return this.pid !== 0 && isPidAlive(this.pid);
  }

  /** First start: a fresh port each attempt, because another process may grab a free one first. */
  async startOnFreePort(): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < CLUSTER_DEFAULTS.PORT_ATTEMPTS; attempt++) {
      this.portNumber = await findFreePort();
      try {
        await this.launch();
        return;
      } catch (error) {
        lastError = error;
        if (!(error instanceof PortTakenError)) throw error;
      }
    }
    throw new LabError(LAB_ERR.PG_CLUSTER, `postgres could not bind a free port on 127.0.0.1 after ${CLUSTER_DEFAULTS.PORT_ATTEMPTS} attempts (log: ${this.logFile})`, {
      cause: lastError,
    });
  }

  async halt(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.shutdown(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
  }

  async resume(): Promise<void> {
    if (this.stopped) throw new LabError(LAB_ERR.PG_CLUSTER, 'the cluster was stopped and its folder deleted: start a new one');
    if (this.running()) return;
    try {
      await this.launch();
    } catch (error) {
      if (error instanceof PortTakenError) {
        throw new LabError(LAB_ERR.PG_CLUSTER, `port ${this.portNumber} was taken while postgres was halted: start a new cluster`, { cause: error });
      }
      throw error;
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.shutdown('SIGINT');
    } finally {
      LIVE_CLUSTERS.delete(this);
      updateSignalHandlers();
      await fsp.rm(this.folder, { recursive: true, force: true, maxRetries: 3 });
    }
  }

  /** The last-resort stop from a process 'exit' handler: synchronous, so one signal and no wait. */
  killNow(): void {
    try {
      if (this.pid !== 0) signalPid(this.pid, 'SIGQUIT');
    } catch {
      // Exiting anyway: the next start's sweep removes whatever is left.
    }
  }

  /**
   * Fast shutdown (SIGINT) ends sessions and checkpoints; immediate (SIGQUIT) skips the
   * checkpoint; SIGKILL is for a postmaster that ignores both. Each step has a deadline.
   */
  private async shutdown(first: 'SIGINT' | 'SIGQUIT'): Promise<void> {
    const pid = this.pid;
    if (pid === 0) return;
    const steps: NodeJS.Signals[] = first === 'SIGINT' ? ['SIGINT', 'SIGQUIT', 'SIGKILL'] : ['SIGQUIT', 'SIGKILL'];
    let gone = !isPidAlive(pid);
    for (const signal of steps) {
      if (gone) break;
      signalPid(pid, signal);
      gone = await this.waitForExit(pid, CLUSTER_DEFAULTS.STOP_STEP_TIMEOUT_MS);
    }
    if (!gone) throw new LabError(LAB_ERR.PG_CLUSTER, `postmaster ${pid} did not exit after SIGKILL: check it with ps -p ${pid}`);
    this.pid = 0;
    this.child = null;
    this.childExit = null;
  }

  private async waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
    // Our own child: its 'exit' event is exact. An adopted postmaster (db stop): poll the PID.
    if (this.childExit !== null && this.child?.pid === pid) {
      const exited = this.childExit;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, timeoutMs, false)));
      // Cleared either way: a pending deadline would keep the process alive after the exit.
      return Promise.race([exited.then(() => true), timedOut]).finally(() => clearTimeout(timer));
    }
    return waitForPidExit(pid, timeoutMs);
  }

  /** Spawn the postmaster on this.portNumber and wait until a real connection succeeds. */
  private async launch(): Promise<void> {
    const { runAs, binaries } = this.config;
    const logFd = fs.openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(binaries.postgres, ['-D', this.dataDir, ...serverSettings(this.config, this.portNumber)], {
        cwd: this.folder,
        // Its own process group: a Ctrl-C in the terminal reaches socketlab only, which then
        // closes its pool before stopping postgres, instead of both racing to shut down.
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: postgresEnv(),
        ...(runAs === null ? {} : { uid: runAs.uid, gid: runAs.gid }),
      });
    } finally {
      fs.closeSync(logFd);
    }
    // The postmaster must not keep socketlab's event loop alive: the 'exit' handler stops it.
    child.unref();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
    });
    this.child = child;
    this.childExit = exited.then(() => undefined);
    this.pid = child.pid ?? 0;
    if (!this.config.detached) {
      LIVE_CLUSTERS.add(this);
      updateSignalHandlers();
    }

    const deadline = Date.now() + this.config.startTimeoutMs;
    let lastError: unknown = null;
    let ready = false;
    let exit: Awaited<typeof exited> | null = null;
    void exited.then((e) => (exit = e));
    while (!ready && exit === null && Date.now() < deadline) {
      try {
        await withControlClient(this.url, (client) => client.query('SELECT 1'), 2000);
        ready = true;
      } catch (error) {
        lastError = error;
        if (exit === null) await delay(CLUSTER_DEFAULTS.READY_POLL_MS);
      }
    }
    if (ready) return;

    const tail = await readLogTail(this.logFile);
    if (exit === null) {
      await this.shutdown('SIGQUIT').catch(() => {});
      throw new LabError(
        LAB_ERR.PG_CLUSTER,
        `postgres did not accept connections within ${this.config.startTimeoutMs} ms (${firstLine(lastError)}); log: ${this.logFile}`,
      );
    }
    this.pid = 0;
    LIVE_CLUSTERS.delete(this);
    updateSignalHandlers();
    const ended = exit as Awaited<typeof exited>;
    if (/could not bind IPv4 address|Address already in use|could not create any TCP\/IP sockets/.test(tail)) throw new PortTakenError(tail);
    if (ended.error !== undefined) {
      throw new LabError(LAB_ERR.PG_CLUSTER, `cannot run ${binaries.postgres}: ${ended.error.message}`, { cause: ended.error });
    }
    const fatal = tail.split('\n').find((line) => /FATAL|PANIC|ERROR/.test(line)) ?? tail.split('\n').filter(Boolean).pop() ?? 'no log output';
    throw new LabError(LAB_ERR.PG_CLUSTER, `postgres exited during start-up (code ${ended.code ?? ended.signal}): ${fatal.trim()} (log: ${this.logFile})`);
  }
}

class PortTakenError extends Error {}

/** The URL of an embedded cluster: the bootstrap superuser, trust auth, loopback only. */
export function clusterUrl(port: number): string {
  return `postgresql://postgres@127.0.0.1:${port}/postgres`;
}

/**
 * Settings on the command line rather than in postgresql.conf, so the template stays
 * untouched and `ps` shows exactly what the lab runs with.
 */
function serverSettings(config: ClusterConfig, port: number): string[] {
  const settings: Record<string, string | number> = {
    port,
    listen_addresses: '127.0.0.1',
    // No Unix socket: nothing needs /var/run/postgresql, and clients all go through TCP like the labs.
    unix_socket_directories: '',
    max_connections: config.maxConnections,
    shared_buffers: config.sharedBuffers,
    // Throwaway data: durability buys nothing here, and fsync on a shared CI disk would add
    // noise to start-up and seeding. kv is read-only during the labs, so reads are unaffected.
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    // The lab's queries are point lookups; parallel workers would only add processes to count.
    max_parallel_workers_per_gather: 0,
  };
  return Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`]);
}

/** A small, predictable environment: no PG* variables from the caller's shell leak in. */
function postgresEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: process.env.TZ ?? 'UTC' };
}

/** Bind port 0 on loopback to let the kernel pick a free port, then release it for postgres. */
async function findFreePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function readLogTail(file: string, bytes = 4096): Promise<string> {
  try {
    const handle = await fsp.open(file, 'r');
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - bytes);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

/** Postgres refuses to run as root: pick the unprivileged user it will run as, or null if we are not root. */
export function resolveRunAsUser(): SystemUser | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  for (const name of CLUSTER_DEFAULTS.RUN_AS_USERS) {
    const user = lookupUser(name);
    if (user !== null && user.uid !== 0) return user;
  }
  throw new LabError(
    LAB_ERR.PG_CLUSTER,
    'postgres refuses to run as root and there is no "postgres" user to run it as: create one (useradd --system postgres) or run socketlab as a normal user',
  );
}

/**
 * The folder for template and clusters. When running as root, the postgres user must be able
 * to reach it: a fresh clone made with `mktemp -d` (mode 0700) is not reachable, so fall back
 * to <tmpdir>/socketlab-pg-<uid>-<hash of the wanted path>, stable for this project.
 */
export function resolveClusterRoot(wanted: string, runAs: SystemUser | null, log: (line: string) => void): string {
  ensureDir(wanted, 0o755);
  if (runAs === null || canUserReach(runAs, wanted)) return wanted;
  const hash = createHash('sha256').update(path.resolve(wanted)).digest('hex').slice(0, 12);
  const fallback = path.join(os.tmpdir(), `socketlab-pg-${process.getuid?.() ?? 0}-${hash}`);
  ensureOwnDir(fallback);
  if (!canUserReach(runAs, fallback)) {
    throw new LabError(LAB_ERR.PG_CLUSTER, `user ${runAs.name} can reach neither ${wanted} nor ${fallback}: make one of them reachable (chmod o+x on each parent folder)`);
  }
  log(`user ${runAs.name} cannot reach ${wanted} (a parent folder is not searchable), so the cluster goes under ${fallback}`);
  return fallback;
}

function ensureDir(dir: string, mode: number): void {
  fs.mkdirSync(dir, { recursive: true, mode });
  // mkdir's mode is filtered by the umask: set it explicitly so postgres can traverse.
  fs.chmodSync(dir, mode);
}

/** A folder in a shared temp dir: refuse one that is a symlink or owned by someone else. */
function ensureOwnDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o755 });
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
  }
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || stat.isSymbolicLink() || stat.uid !== (process.getuid?.() ?? stat.uid)) {
    throw new LabError(LAB_ERR.PG_CLUSTER, `${dir} exists but is not a folder owned by this user: remove it and retry`);
  }
  fs.chmodSync(dir, 0o755);
}

function chownIfRoot(file: string, runAs: SystemUser | null): void {
  if (runAs !== null) fs.chownSync(file, runAs.uid, runAs.gid);
}

/** Run a binary as the cluster user, collecting output; throws PG_CLUSTER on failure. */
function runAsUser(command: string, args: string[], runAs: SystemUser | null, timeoutMs: number): void {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: postgresEnv(),
    cwd: '/',
    ...(runAs === null ? {} : { uid: runAs.uid, gid: runAs.gid }),
  });
  if (result.status === 0) return;
  const output = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().split('\n').slice(-3).join(' / ');
  const why = result.error !== undefined ? result.error.message : output || `exit ${result.status ?? result.signal}`;
  throw new LabError(LAB_ERR.PG_CLUSTER, `${path.basename(command)} failed: ${why}`);
}

/**
 * initdb once per PostgreSQL major version, then copy: a copy of the ~40 MB template costs
 * about a fifth of an initdb (see docs/database.md for the numbers). initdb runs into a
 * private temporary folder renamed into place, so two processes starting at once never see
 * a half-made template.
 */
async function ensureTemplate(root: string, binaries: PgBinaries, runAs: SystemUser | null, log: (line: string) => void): Promise<string> {
  const template = path.join(root, `template-${binaries.major}`);
  if (fs.existsSync(path.join(template, 'global', 'pg_control'))) return template;
  log(`initialising the template cluster with initdb (PostgreSQL ${binaries.version}; once, later starts copy it)`);
  const temporary = `${template}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  fs.mkdirSync(temporary, { mode: 0o700 });
  chownIfRoot(temporary, runAs);
  try {
    // --no-sync: a throwaway template needs no fsync; --no-locale: C collation, same on every machine.
    runAsUser(binaries.initdb, ['-D', temporary, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'], runAs, CLUSTER_DEFAULTS.INITDB_TIMEOUT_MS);
    try {
      fs.renameSync(temporary, template);
    } catch (error) {
      // Another process finished first: its template is as good as ours.
      if (errnoCode(error) !== 'ENOTEMPTY' && errnoCode(error) !== 'EEXIST') throw error;
    }
  } finally {
    await fsp.rm(temporary, { recursive: true, force: true });
  }
  return template;
}

/**
 * clusters/<name>/ holds owner.json (who started it, written first so a concurrent sweep
 * never mistakes it for stale), data/ (a copy of the template) and postgres.log.
 */
async function createClusterFolder(folder: string, template: string, runAs: SystemUser | null, detached: boolean): Promise<void> {
  ensureDir(path.dirname(folder), 0o755);
  if (fs.existsSync(folder)) {
    // A named folder (db start's "manual") left by an earlier run: reuse the name, not the data.
    const pid = livePostmasterPid(path.join(folder, CLUSTER_LAYOUT.DATA));
    if (pid !== null) throw new LabError(LAB_ERR.PG_CLUSTER, `a cluster is already running in ${folder} (postmaster ${pid}): stop it first (socketlab db stop)`);
    await fsp.rm(folder, { recursive: true, force: true, maxRetries: 3 });
  }
  fs.mkdirSync(folder, { mode: 0o755 });
  chownIfRoot(folder, runAs);
  const owner: OwnerRecord = { ownerPid: process.pid, ownerStartTime: processStartTime(process.pid), detached, createdAt: new Date().toISOString() };
  fs.writeFileSync(path.join(folder, CLUSTER_LAYOUT.OWNER_FILE), `${JSON.stringify(owner)}\n`);
  // `cp -a` as the cluster user keeps modes (postgres wants its data folder 0700) and makes
  // the copy owned by that user in one pass, without a chown walk over ~1000 files.
  const data = path.join(folder, CLUSTER_LAYOUT.DATA);
  try {
    runAsUser('cp', ['-a', template, data], runAs, 60_000);
  } catch (error) {
    await fsp.rm(folder, { recursive: true, force: true });
    throw new LabError(
      LAB_ERR.PG_CLUSTER,
      `cannot copy the template cluster ${template}: ${firstLine(error)}; if another user created it, remove ${path.dirname(template)} and retry`,
      { cause: error },
    );
  }
}

/**
 * Remove clusters whose owner process is gone (a crash, a SIGKILL, a test runner killed at
 * its timeout). A postmaster still running in such a folder is stopped first, but only after
 * checking its command line names that folder: a reused PID is never signalled.
 */
export async function reapStaleClusters(root: string, log: (line: string) => void): Promise<number> {
  let removed = 0;
  const folder = path.join(root, CLUSTER_LAYOUT.CLUSTERS);
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(folder).slice(0, CLUSTER_LAYOUT.REAP_LIMIT);
  } catch {
    // No clusters folder yet.
  }
  for (const name of entries) {
    const clusterFolder = path.join(folder, name);
    const owner = readOwner(clusterFolder);
    if (owner === null) {
      // Being created right now (owner.json is written right after mkdir), or a crash in
      // between: only the latter is old.
      const age = Date.now() - (fs.statSync(clusterFolder, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age < 60_000) continue;
    } else if (owner.detached || isSameProcessAlive(owner.ownerPid, owner.ownerStartTime)) {
      continue;
    }
    const postmaster = await stopOrphanPostmaster(path.join(clusterFolder, CLUSTER_LAYOUT.DATA));
    await fsp.rm(clusterFolder, { recursive: true, force: true, maxRetries: 3 });
    removed += 1;
    log(`removed stale cluster ${name} left by a run that ended without stopping it${postmaster === null ? '' : ` (stopped its postmaster ${postmaster})`}`);
  }
  // Half-made templates of crashed initdb runs: the PID is in the name.
  for (const name of fs.readdirSync(root).slice(0, CLUSTER_LAYOUT.REAP_LIMIT)) {
    const pid = Number(/^template-\d+\.tmp-(\d+)-/.exec(name)?.[1]);
    if (Number.isSafeInteger(pid) && !isPidAlive(pid)) await fsp.rm(path.join(root, name), { recursive: true, force: true });
  }
  return removed;
}

function readOwner(folder: string): OwnerRecord | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(folder, CLUSTER_LAYOUT.OWNER_FILE), 'utf8')) as OwnerRecord;
  } catch {
    return null;
  }
}

/** The postmaster PID recorded in a data folder, if that process is alive and is postgres on that folder. */
export function livePostmasterPid(dataDir: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return null;
  }
  if (!isPidAlive(pid)) return null;
  const commandLine = processCommandLine(pid);
  return commandLine !== null && commandLine.includes('postgres') && commandLine.includes(dataDir) ? pid : null;
}

async function stopOrphanPostmaster(dataDir: string): Promise<number | null> {
  const pid = livePostmasterPid(dataDir);
  if (pid === null) return null;
  // Immediate shutdown: the data is about to be deleted, a checkpoint would be wasted work.
  for (const signal of ['SIGQUIT', 'SIGKILL'] as const) {
    signalPid(pid, signal);
    if (await waitForPidExit(pid, 5000)) return pid;
  }
  return pid;
}

/**
 * Adopt the running cluster in `folder` (socketlab db status/stop): an EmbeddedCluster whose
 * stop() ends a postmaster another socketlab process started, or null when none runs there.
 */
export function adoptCluster(folder: string, port: number, rows: number, maxConnections: number): EmbeddedCluster | null {
  const pid = livePostmasterPid(path.join(folder, CLUSTER_LAYOUT.DATA));
  if (pid === null) return null;
  const binaries = findPgBinaries();
  return new PostgresCluster({
    folder,
    binaries,
    runAs: resolveRunAsUser(),
    rows,
    maxConnections,
    sharedBuffers: CLUSTER_DEFAULTS.SHARED_BUFFERS,
    detached: true,
    startTimeoutMs: CLUSTER_DEFAULTS.START_TIMEOUT_MS,
    timings: { templateMs: 0, copyMs: 0, startMs: 0, seedMs: 0 },
    port,
    pid,
  });
}

// ---------------------------------------------------------------------------------------
// Stopping clusters when the process ends.
//
// The owner of a Database closes it (serve on SIGTERM, a test in its after hook). These
// handlers are the safety net: on 'exit' a synchronous SIGQUIT to every postmaster still
// running (exit handlers cannot wait); on SIGINT/SIGTERM, when nobody else listens for the
// signal, stop every cluster in order and then die of the signal as the default would.
// When the application has its own handler it owns shutdown and we stay out of its way.

const LIVE_CLUSTERS = new Set<PostgresCluster>();
const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
let handlersInstalled = false;

function onProcessExit(): void {
  for (const cluster of LIVE_CLUSTERS) cluster.killNow();
}

function onShutdownSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  const clusters = [...LIVE_CLUSTERS];
  removeSignalHandlers();
  const deadline = setTimeout(() => process.kill(process.pid, signal), CLUSTER_DEFAULTS.STOP_STEP_TIMEOUT_MS * 2);
  void Promise.allSettled(clusters.map((c) => c.stop())).finally(() => {
    clearTimeout(deadline);
    process.kill(process.pid, signal);
  });
}

function removeSignalHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.removeListener('exit', onProcessExit);
  for (const signal of SHUTDOWN_SIGNALS) process.removeListener(signal, onShutdownSignal);
}

function updateSignalHandlers(): void {
  if (LIVE_CLUSTERS.size === 0) {
    removeSignalHandlers();
    return;
  }
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', onProcessExit);
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, onShutdownSignal);
}

/** The clusters this process started and has not stopped (tests assert this is empty). */
export function liveClusters(): readonly EmbeddedCluster[] {
  return [...LIVE_CLUSTERS];
}
