/**
 * A throwaway PostgreSQL cluster, private to one socketlab process (or kept up on purpose by
 * `socketlab db start`).
 *
 * Lifecycle: find the server binaries → pick the folder (under the project's .socketlab/, or
 * under the temp dir when the postgres user cannot reach the project) → remove clusters left
 * by crashed runs → copy a cluster initialised once by initdb (the template) → start the
 * keeper that stops the cluster if this process dies → `pg_ctl start -w` on a free loopback
 * port → give the postgres role a password of its own → seed kv.
 * Stop: `pg_ctl stop` (fast, then immediate, then SIGKILL), the folder is deleted (data/ by
 * the cluster user), and the keeper is released.
 *
 * Who can connect (docs/database.md, "Who can connect"): TCP on 127.0.0.1 only, no Unix
 * socket, and scram-sha-256 for every connection (initdb's pg_hba.conf, no `trust` line). Each
 * cluster's password is random, kept in a 0600 pgpass file only its starter can read; the URL
 * names that file, never the password (credentials.ts). Files root touches sit in folders
 * root owns (cluster-files.ts). Every PID signalled here is a postmaster this module started
 * (or one a previous socketlab run started, found through that run's folder and verified by
 * its command line and uid).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB_ERR, LabError, errnoCode } from '../errors.js';
import { findPgBinaries, type PgBinaries } from './binaries.js';
import { currentUid, ensureOwnFolder, openAppendNoFollow, readFileNoFollow, removeTree, writeFileNoFollow } from './cluster-files.js';
import { KEEPER_RELEASE, type KeeperOrders } from './keeper-protocol.js';
import { formatPassfileLine, generatePassword, scramSecret } from './credentials.js';
import { livePostmasterPid, PortTakenError, startPostmaster, stopPostmaster, type PostmasterTarget } from './postmaster.js';
import { canUserReach, isPidAlive, isSameProcessAlive, lookupUser, postgresEnv, processStartTime, runAsUser, signalPid, type SystemUser } from './processes.js';
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
  INITDB_TIMEOUT_MS: 120_000,
  /**
   * The one user Postgres runs as when socketlab is root. No fallback to `nobody`: every
   * service that drops privileges to nobody would share the cluster's files and processes.
   */
  RUN_AS_USER: 'postgres',
  /** The role, database and address of every embedded cluster. */
  ROLE: 'postgres',
  DATABASE: 'postgres',
  HOST: '127.0.0.1',
} as const;

/** Names inside the clusters folder. */
export const CLUSTER_LAYOUT = {
  CLUSTERS: 'clusters',
  /** The folder `socketlab db start` uses: one manual cluster at a time. */
  MANUAL: 'manual',
  OWNER_FILE: 'owner.json',
  DATA: 'data',
  LOG: 'postgres.log',
  /** The cluster's password, in libpq's password-file format, mode 0600. */
  PASSFILE: 'pgpass',
  /** The template's own password (each cluster replaces it with its own at start). */
  TEMPLATE_SECRET: 'secret',
  /** The template folder's suffix: templates made before scram-sha-256 (trust auth) are swept. */
  TEMPLATE_SUFFIX: '-scram',
  /** How many stale entries one start looks at: a bound, not an expected number. */
  REAP_LIMIT: 200,
} as const;

const KEEPER_SCRIPT = fileURLToPath(new URL('./cluster-keeper.js', import.meta.url));

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
   * has no keeper, is not stopped on exit or by the stale-folder sweep: only stop() ends it.
   */
  detached?: boolean;
  /** One line per notable event (template created, folder relocated, stale cluster removed). */
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface EmbeddedCluster {
  /**
   * postgresql://postgres@127.0.0.1:PORT/postgres?passfile=FILE: no password in it, so it is
   * safe to print and to pass on a command line; only the user who started the cluster can
   * read FILE (see docs/database.md).
   */
  readonly url: string;
  readonly port: number;
  /** The 0600 password file the URL names, for tools given host and port instead (PGPASSFILE=... pgbench). */
  readonly passfile: string;
  /** The cluster's folder (holds data/, postgres.log, pgpass and owner.json). */
  readonly folder: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The postmaster's PID; it changes after resume(). 0 while halted. */
  readonly postmasterPid: number;
  /** The process that stops this cluster if its owner dies; null for a detached cluster. */
  readonly keeperPid: number | null;
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
  /** Giving the role its own password, then creating and filling kv. */
  seedMs: number;
}

interface OwnerRecord {
  ownerPid: number;
  ownerStartTime: number | null;
  detached: boolean;
  createdAt: string;
}

interface Template {
  dataDir: string;
  /** The password every copy starts with, until its first connection replaces it. */
  password: string;
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
  const sharedBuffers = options.sharedBuffers ?? CLUSTER_DEFAULTS.SHARED_BUFFERS;
  // It reaches a shell command line (pg_ctl -o): a size, nothing else.
  if (!/^\d+(kB|MB|GB|TB)?$/.test(sharedBuffers)) throw new LabError(LAB_ERR.USAGE, `shared_buffers must be a size like 128MB, got "${sharedBuffers}"`);
  const binaries = findPgBinaries();
  const runAs = resolveRunAsUser();
  const root = resolveClusterRoot(options.dir ?? path.join(stateDir(), 'pg'), runAs, log);
  await reapStaleClusters(root, binaries, runAs, log);

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
    sharedBuffers,
    detached: options.detached === true,
    startTimeoutMs: options.startTimeoutMs ?? CLUSTER_DEFAULTS.START_TIMEOUT_MS,
    timings,
  });
  try {
    // The keeper first: from here on, a death of this process at any point leaves nothing running.
    if (options.detached !== true) cluster.startKeeper();
    mark = performance.now();
    await cluster.startOnFreePort();
    timings.startMs = Math.round(performance.now() - mark);
    mark = performance.now();
    await cluster.replaceTemplatePassword(template.password);
    timings.seedMs = Math.round(performance.now() - mark);
  } catch (error) {
    await cluster.stop().catch(() => {});
    if (error instanceof LabError) throw error;
    throw new LabError(LAB_ERR.PG_CLUSTER, `the throwaway cluster failed to start: ${firstLine(error)} (log: ${cluster.logFile})`, { cause: error });
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
  readonly passfile: string;
  readonly binaries: PgBinaries;
  readonly rows: number;
  readonly maxConnections: number;
  readonly timings: ClusterTimings;
  private readonly config: ClusterConfig;
  private portNumber = 0;
  private pid = 0;
  private keeper: ChildProcess | null = null;
  private stopped = false;

  constructor(config: ClusterConfig) {
    this.config = config;
    this.folder = config.folder;
    this.dataDir = path.join(config.folder, CLUSTER_LAYOUT.DATA);
    this.logFile = path.join(config.folder, CLUSTER_LAYOUT.LOG);
    this.passfile = path.join(config.folder, CLUSTER_LAYOUT.PASSFILE);
    this.binaries = config.binaries;
    this.rows = config.rows;
    this.maxConnections = config.maxConnections;
    this.timings = config.timings;
    this.portNumber = config.port ?? 0;
    this.pid = config.pid ?? 0;
  }

  get url(): string {
    return clusterUrl(this.portNumber, this.passfile);
  }
  get port(): number {
    return this.portNumber;
  }
  get postmasterPid(): number {
    return this.pid;
  }
  get keeperPid(): number | null {
    return this.keeper?.pid ?? null;
  }
  get version(): string {
    return this.binaries.version;
  }
  get runAs(): string | null {
    return this.config.runAs?.name ?? null;
  }
  private get target(): PostmasterTarget {
    return { pgCtl: this.binaries.pgCtl, dataDir: this.dataDir, runAs: this.config.runAs };
  }

  running(): boolean {
    return this.pid !== 0 && isPidAlive(this.pid);
  }

  /**
   * Spawn the keeper (cluster-keeper.ts): detached in a session of its own, our pipe as its
   * stdin, the cluster's log as its stderr. Neither it nor the pipe keeps this process alive.
   */
  startKeeper(): void {
    const orders: KeeperOrders = {
      ownerPid: process.pid,
      ownerStartTime: processStartTime(process.pid),
      folder: this.folder,
      dataDir: this.dataDir,
      pgCtl: this.binaries.pgCtl,
      runAs: this.config.runAs,
    };
    const logFd = openAppendNoFollow(this.logFile);
    try {
      const keeper = spawn(process.execPath, [KEEPER_SCRIPT, JSON.stringify(orders)], { detached: true, stdio: ['pipe', 'ignore', logFd], env: postgresEnv(), cwd: '/' });
      keeper.on('error', () => {});
      keeper.stdin?.on('error', () => {});
      keeper.unref();
      (keeper.stdin as unknown as net.Socket | null)?.unref();
      this.keeper = keeper;
    } finally {
      fs.closeSync(logFd);
    }
  }

  /** We stopped the cluster ourselves: the keeper has nothing left to do. */
  private releaseKeeper(): void {
    const keeper = this.keeper;
    this.keeper = null;
    keeper?.stdin?.end(KEEPER_RELEASE);
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

  /**
   * Every copy of the template starts with the template's password; the first connection
   * replaces it with one of this cluster's own (as a SCRAM secret, so the plaintext never
   * reaches Postgres or its log), writes the pgpass file, and seeds kv.
   */
  async replaceTemplatePassword(templatePassword: string): Promise<void> {
    const password = generatePassword();
    const bootstrap = `postgresql://${CLUSTER_DEFAULTS.ROLE}:${templatePassword}@${CLUSTER_DEFAULTS.HOST}:${this.portNumber}/${CLUSTER_DEFAULTS.DATABASE}`;
    await withControlClient(bootstrap, async (client) => {
      await client.query(`ALTER ROLE ${CLUSTER_DEFAULTS.ROLE} PASSWORD '${scramSecret(password)}'`);
      const line = formatPassfileLine({ host: CLUSTER_DEFAULTS.HOST, port: this.portNumber, database: '*', user: CLUSTER_DEFAULTS.ROLE, password });
      writeFileNoFollow(this.passfile, `${line}\n`, 0o600);
      await createKv(client, this.rows);
    });
  }

  async halt(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.shutdown(mode);
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
    // If the postmaster will not die, this throws with the folder and the keeper left alone:
    // deleting data under a running server helps nobody, and the keeper tries again at exit.
    await this.shutdown('fast');
    LIVE_CLUSTERS.delete(this);
    updateSignalHandlers();
    await removeTree(this.folder, this.config.runAs);
    this.releaseKeeper();
  }

  /** The last-resort stop from a process 'exit' handler: synchronous, one signal, no wait; the keeper finishes the job. */
  killNow(): void {
    try {
      if (this.pid !== 0) signalPid(this.pid, 'SIGQUIT');
    } catch {
      // Exiting anyway: the keeper, or the next start's sweep, removes whatever is left.
    }
  }

  private async shutdown(mode: 'fast' | 'immediate'): Promise<void> {
    // An adopted cluster (db stop) knows its PID from the record; ours from postmaster.pid.
    await stopPostmaster(this.target, mode, CLUSTER_DEFAULTS.STOP_STEP_TIMEOUT_MS);
    this.pid = 0;
  }

  /** pg_ctl start on this.portNumber; resolves once the postmaster accepts connections. */
  private async launch(): Promise<void> {
    this.pid = await startPostmaster(this.target, serverSettings(this.config, this.portNumber), this.logFile, this.config.startTimeoutMs);
    if (!this.config.detached) {
      LIVE_CLUSTERS.add(this);
      updateSignalHandlers();
    }
  }
}

/**
 * The URL of an embedded cluster: the bootstrap superuser on loopback, the password read by
 * the driver from `passfile` (a standard libpq parameter; credentials.ts reads it for pg).
 */
export function clusterUrl(port: number, passfile: string): string {
  return `postgresql://${CLUSTER_DEFAULTS.ROLE}@${CLUSTER_DEFAULTS.HOST}:${port}/${CLUSTER_DEFAULTS.DATABASE}?passfile=${encodeURIComponent(passfile)}`;
}

/**
 * Settings on the command line rather than in postgresql.conf, so the template stays
 * untouched and `ps` shows exactly what the lab runs with.
 */
function serverSettings(config: ClusterConfig, port: number): Record<string, string | number> {
  return {
    port,
    listen_addresses: CLUSTER_DEFAULTS.HOST,
    // No Unix socket: nothing needs /var/run/postgresql, and clients all go through TCP like the labs.
    unix_socket_directories: '',
    // Secrets are stored as SCRAM (Postgres's default since 14, explicit for older servers).
    password_encryption: 'scram-sha-256',
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
}

/** Bind port 0 on loopback to let the kernel pick a free port, then release it for postgres. */
async function findFreePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: CLUSTER_DEFAULTS.HOST, exclusive: true }, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Postgres refuses to run as root: the unprivileged user it runs as, or null if we are not
 * root. Only `postgres` (what every PostgreSQL package creates); `lookup` and `uid` are for tests.
 */
export function resolveRunAsUser(lookup: (name: string) => SystemUser | null = lookupUser, uid = currentUid()): SystemUser | null {
  if (uid !== 0) return null;
  const user = lookup(CLUSTER_DEFAULTS.RUN_AS_USER);
  if (user !== null && user.uid !== 0) return user;
  throw new LabError(
    LAB_ERR.PG_CLUSTER,
    `postgres refuses to run as root, and there is no "${CLUSTER_DEFAULTS.RUN_AS_USER}" user to run it as: install the PostgreSQL server package (it creates one) or \`useradd --system --user-group postgres\`, or run socketlab as a normal user`,
  );
}

/** The mode of a folder root owns and the cluster user must pass through (0711: enter, not list). */
function folderMode(runAs: SystemUser | null): number {
  return runAs === null ? 0o700 : 0o711;
}

/**
 * The folder for template and clusters. When running as root, the postgres user must be able
 * to reach it: a fresh clone made with `mktemp -d` (mode 0700) is not reachable, so fall back
 * to <tmpdir>/socketlab-pg-<uid>-<hash of the wanted path>, stable for this project.
 */
export function resolveClusterRoot(wanted: string, runAs: SystemUser | null, log: (line: string) => void): string {
  fs.mkdirSync(path.dirname(wanted), { recursive: true });
  ensureOwnFolder(wanted, 0o755);
  if (runAs === null || canUserReach(runAs, wanted)) return wanted;
  const hash = createHash('sha256').update(path.resolve(wanted)).digest('hex').slice(0, 12);
  const fallback = path.join(os.tmpdir(), `socketlab-pg-${currentUid()}-${hash}`);
  // In a shared temp dir: ensureOwnFolder refuses one that is a link or someone else's.
  ensureOwnFolder(fallback, 0o755);
  if (!canUserReach(runAs, fallback)) {
    throw new LabError(LAB_ERR.PG_CLUSTER, `user ${runAs.name} can reach neither ${wanted} nor ${fallback}: make one of them reachable (chmod o+x on each parent folder)`);
  }
  log(`user ${runAs.name} cannot reach ${wanted} (a parent folder is not searchable), so the cluster goes under ${fallback}`);
  return fallback;
}

/** A folder for the cluster user inside one of ours: 0700, theirs. */
function makeUserFolder(dir: string, runAs: SystemUser | null): void {
  fs.mkdirSync(dir, { mode: 0o700 });
  if (runAs !== null) fs.lchownSync(dir, runAs.uid, runAs.gid);
}

function readTemplate(dir: string): Template | null {
  if (!fs.existsSync(path.join(dir, CLUSTER_LAYOUT.DATA, 'global', 'pg_control'))) return null;
  const password = readFileNoFollow(path.join(dir, CLUSTER_LAYOUT.TEMPLATE_SECRET), { maxBytes: 256 })?.trim();
  return password === undefined || password === '' ? null : { dataDir: path.join(dir, CLUSTER_LAYOUT.DATA), password };
}

/**
 * initdb once per PostgreSQL major version, then copy: a copy of the ~40 MB template costs
 * about a fifth of an initdb (see docs/database.md for the numbers). template-N-scram/ is
 * root's (0711) and holds `secret` (the template's password, 0600) and data/ (the cluster
 * user's). It is made in a private temporary folder renamed into place, so two processes
 * starting at once never see half a template, or a template without its secret.
 */
async function ensureTemplate(root: string, binaries: PgBinaries, runAs: SystemUser | null, log: (line: string) => void): Promise<Template> {
  const dir = path.join(root, `template-${binaries.major}${CLUSTER_LAYOUT.TEMPLATE_SUFFIX}`);
  const ready = readTemplate(dir);
  if (ready !== null) return ready;
  log(`initialising the template cluster with initdb (PostgreSQL ${binaries.version}; once, later starts copy it)`);
  const temporary = `${dir}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  ensureOwnFolder(temporary, folderMode(runAs));
  try {
    const password = generatePassword();
    writeFileNoFollow(path.join(temporary, CLUSTER_LAYOUT.TEMPLATE_SECRET), `${password}\n`);
    const data = path.join(temporary, CLUSTER_LAYOUT.DATA);
    makeUserFolder(data, runAs);
    // initdb reads the superuser's password from a file its user can read: that file holds
    // only the SCRAM secret, which Postgres stores as it is.
    const pwfile = path.join(temporary, 'pwfile');
    writeFileNoFollow(pwfile, `${scramSecret(password)}\n`);
    if (runAs !== null) fs.lchownSync(pwfile, runAs.uid, runAs.gid);
    // scram-sha-256 for host and local lines alike: pg_hba.conf gets no `trust` line at all.
    // --no-sync: a throwaway template needs no fsync; --no-locale: C collation, same on every machine.
    runAsUser(
      binaries.initdb,
      ['-D', data, '-U', CLUSTER_DEFAULTS.ROLE, '--auth-host=scram-sha-256', '--auth-local=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-locale', '--no-sync'],
      runAs,
      { timeoutMs: CLUSTER_DEFAULTS.INITDB_TIMEOUT_MS },
    );
    fs.rmSync(pwfile);
    try {
      fs.renameSync(temporary, dir);
    } catch (error) {
      // Another process finished first: its template is as good as ours.
      if (errnoCode(error) !== 'ENOTEMPTY' && errnoCode(error) !== 'EEXIST') throw error;
    }
  } finally {
    await removeTree(temporary, runAs);
  }
  const made = readTemplate(dir);
  if (made === null) throw new LabError(LAB_ERR.PG_CLUSTER, `the template ${dir} is incomplete: remove it and retry`);
  return made;
}

/**
 * clusters/<name>/ is root's (0711, see cluster-files.ts) and holds owner.json (who started
 * it, written first so a concurrent sweep never mistakes it for stale), postgres.log,
 * pgpass, and data/ (the cluster user's, a copy of the template's).
 */
async function createClusterFolder(folder: string, template: Template, runAs: SystemUser | null, detached: boolean): Promise<void> {
  ensureOwnFolder(path.dirname(folder), 0o755);
  if (fs.existsSync(folder)) {
    // A named folder (db start's "manual") left by an earlier run: reuse the name, not the data.
    const pid = livePostmasterPid(path.join(folder, CLUSTER_LAYOUT.DATA), runAs);
    if (pid !== null) throw new LabError(LAB_ERR.PG_CLUSTER, `a cluster is already running in ${folder} (postmaster ${pid}): stop it first (socketlab db stop)`);
    await removeTree(folder, runAs);
  }
  fs.mkdirSync(folder, { mode: folderMode(runAs) });
  ensureOwnFolder(folder, folderMode(runAs));
  const owner: OwnerRecord = { ownerPid: process.pid, ownerStartTime: processStartTime(process.pid), detached, createdAt: new Date().toISOString() };
  writeFileNoFollow(path.join(folder, CLUSTER_LAYOUT.OWNER_FILE), `${JSON.stringify(owner)}\n`);
  const data = path.join(folder, CLUSTER_LAYOUT.DATA);
  makeUserFolder(data, runAs);
  // `cp -a` as the cluster user keeps modes (postgres wants its data folder 0700) and makes
  // the copy owned by that user in one pass, without a chown walk over ~1000 files.
  try {
    runAsUser('cp', ['-a', `${template.dataDir}/.`, data], runAs, { timeoutMs: 60_000 });
  } catch (error) {
    await removeTree(folder, runAs);
    throw new LabError(
      LAB_ERR.PG_CLUSTER,
      `cannot copy the template cluster ${template.dataDir}: ${firstLine(error)}; if another user created it, remove ${path.dirname(path.dirname(template.dataDir))} and retry`,
      { cause: error },
    );
  }
}

/**
 * Remove clusters whose owner process is gone and whose keeper did not finish the job (both
 * killed, a reboot). A postmaster still running in such a folder is stopped first, but only
 * after checking its command line and uid: a reused PID is never signalled. A cluster whose
 * owner still runs, in this worktree or any other, is never touched: its owner.json says so.
 */
export async function reapStaleClusters(root: string, binaries: PgBinaries, runAs: SystemUser | null, log: (line: string) => void): Promise<number> {
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
    try {
      const owner = readOwner(clusterFolder);
      if (owner === null) {
        // Being created right now (owner.json is written right after mkdir), or a crash in
        // between: only the latter is old.
        const age = Date.now() - (fs.lstatSync(clusterFolder, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
        if (age < 60_000) continue;
      } else if (owner.detached || isSameProcessAlive(owner.ownerPid, owner.ownerStartTime)) {
        continue;
      }
      const dataDir = path.join(clusterFolder, CLUSTER_LAYOUT.DATA);
      // Immediate: the data is about to be deleted, a checkpoint would be wasted work.
      const postmaster = await stopPostmaster({ pgCtl: binaries.pgCtl, dataDir, runAs }, 'immediate', 5000);
      await removeTree(clusterFolder, runAs);
      removed += 1;
      log(`removed stale cluster ${name} left by a run that ended without stopping it${postmaster === null ? '' : ` (stopped its postmaster ${postmaster})`}`);
    } catch (error) {
      log(`could not remove stale cluster ${name}: ${firstLine(error)}`);
    }
  }
  for (const name of fs.readdirSync(root).slice(0, CLUSTER_LAYOUT.REAP_LIMIT)) {
    // Half-made templates of crashed initdb runs (the PID is in the name), and templates from
    // before scram-sha-256, whose pg_hba.conf trusts every local connection.
    const pid = Number(/^template-\d+(?:-scram)?\.tmp-(\d+)-/.exec(name)?.[1]);
    const halfMade = Number.isSafeInteger(pid) && !isPidAlive(pid);
    const trusting = /^template-\d+$/.test(name);
    if (!halfMade && !trusting) continue;
    await removeTree(path.join(root, name), runAs).catch((error: unknown) => log(`could not remove ${name}: ${firstLine(error)}`));
    if (trusting) log(`removed ${name}, a template from an older socketlab that trusted every local connection`);
  }
  return removed;
}

function readOwner(folder: string): OwnerRecord | null {
  try {
    const text = readFileNoFollow(path.join(folder, CLUSTER_LAYOUT.OWNER_FILE), { maxBytes: 4096 });
    return text === null ? null : (JSON.parse(text) as OwnerRecord);
  } catch {
    return null;
  }
}

/**
 * Adopt the running cluster in `folder` (socketlab db status/stop): an EmbeddedCluster whose
 * stop() ends a postmaster another socketlab process started, or null when none runs there.
 */
export function adoptCluster(folder: string, port: number, rows: number, maxConnections: number): EmbeddedCluster | null {
  const runAs = resolveRunAsUser();
  const pid = livePostmasterPid(path.join(folder, CLUSTER_LAYOUT.DATA), runAs);
  if (pid === null) return null;
  return new PostgresCluster({
    folder,
    binaries: findPgBinaries(),
    runAs,
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
// running (exit handlers cannot wait; the keeper deletes the folder); on SIGINT/SIGTERM, when
// nobody else listens for the signal, stop every cluster in order and then die of the signal
// as the default would. When the application has its own handler it owns shutdown and we
// stay out of its way. A death no handler sees (SIGKILL, the OOM killer) is the keeper's.

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
