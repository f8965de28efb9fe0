/**
 * The two ways to talk to Postgres, behind one small interface the pool uses:
 *
 * - pg-native (libpq through the `libpq` addon): the lab's driver, and the only one with a
 *   synchronous API, which the thread-per-connection model needs.
 * - pg (pure JS): the fallback when pg-native cannot load (libpq missing, addon not built).
 *   It works everywhere but costs more CPU per query, so the fallback is announced loudly
 *   and shown in /stats.
 *
 * Both prepare `SELECT val FROM kv WHERE id = $1` once per connection, and the batch form
 * `SELECT id, val FROM kv WHERE id = ANY($1::int[])` (the pool's batch mode), and run only those.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { installHint } from './binaries.js';
import { getUrlParam, pgClientConfig, setUrlParams } from './credentials.js';
import { isStatementTimeout } from './limits.js';
import { firstLine, KV } from './seed.js';

const require = createRequire(import.meta.url);

export const DRIVER = {
  NATIVE: 'pg-native',
  JS: 'pg',
} as const;

export type DriverName = (typeof DRIVER)[keyof typeof DRIVER];
export type DriverPreference = DriverName | 'auto';

/** SOCKETLAB_PG_DRIVER=pg forces the pure-JS driver (to compare, or to test the fallback). */
export const DRIVER_ENV = 'SOCKETLAB_PG_DRIVER';

/** One open connection with the lookup prepared. */
export interface DriverConnection {
  /** The uuid for `id`, or null. Rejects with the driver's error; the pool then discards the connection. */
  lookup(id: number): Promise<string | null>;
  /** The uuids of those `ids` that exist, in one statement. Rejects as lookup() does. */
  lookupMany(ids: readonly number[]): Promise<Map<number, string>>;
  /**
   * Set by the pool: called at most once when the connection breaks while idle (the server
   * went away), so the pool can drop it before anyone picks it.
   */
  onBroken: ((error: Error) => void) | null;
  /**
   * Check the socket now for a failure its event notification missed. The pool calls it
   * about once a second on idle connections and on queries in flight longer than `staleMs`.
   */
  poke(now: number, staleMs: number): void;
  close(): void;
}

export interface Driver {
  name: DriverName;
  /** Why pg-native is not in use (load error or forced), or null when it is. */
  fallbackReason: string | null;
  connect(url: string, connectTimeoutMs: number): Promise<DriverConnection>;
}

/** pg-native's Client, as much of it as we use. */
export interface NativeClient {
  connect(conninfo: string, callback: (error?: Error | string) => void): void;
  connectSync(conninfo: string): void;
  prepare(name: string, text: string, params: number, callback: (error?: Error | string) => void): void;
  prepareSync(name: string, text: string, params: number): void;
  execute(name: string, values: string[], callback: (error: Error | string | undefined, rows: unknown[][]) => void): void;
  executeSync(name: string, values: string[]): unknown[][];
  end(callback?: () => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  /** pg-native's internal "socket is readable" handler: consumeInput, then deliver any result or error. */
  _read?: () => void;
}
type NativeClientConstructor = new (options: { arrayMode: boolean; types: { getTypeParser: () => (text: string) => string } }) => NativeClient;

/** Values come back as libpq's text: a uuid needs no parsing, so skip pg-types entirely. */
const RAW_TYPES = { getTypeParser: () => (text: string) => text } as const;

let nativeLoad: { Client: NativeClientConstructor } | { error: string } | null = null;

/**
 * Load pg-native once per thread. The libpq addon registers itself the old way (NODE_MODULE,
 * not context-aware), so Node loads it in the first thread that asks and every other thread
 * gets "Module did not self-register". The thread models need libpq in many threads, so a
 * thread that hits this dlopen()s its own copy of the addon: a copy under another file name
 * is a new shared object to the dynamic loader (same-file links are not), with its own
 * registration. libpq itself (libpq.so) is thread-safe and stays shared. The copy is
 * unlinked right after loading; the mapping stays valid.
 */
export function loadPgNative(moduleId = 'pg-native'): { Client: NativeClientConstructor } | { error: string } {
  if (nativeLoad !== null && moduleId === 'pg-native') return nativeLoad;
  let result: { Client: NativeClientConstructor } | { error: string };
  try {
    result = { Client: require(moduleId) as NativeClientConstructor };
  } catch (error) {
    if (/did not self-register/.test(String((error as Error).message))) {
      try {
        result = { Client: loadPgNativeFromPrivateCopy(moduleId) };
      } catch (copyError) {
        result = { error: firstLine(copyError) };
      }
    } else {
      result = { error: firstLine(error) };
    }
  }
  if (moduleId === 'pg-native') nativeLoad = result;
  return result;
}

function loadPgNativeFromPrivateCopy(moduleId: string): NativeClientConstructor {
  const Module = require('node:module') as typeof import('node:module') & { new (id: string, parent?: unknown): NodeJS.Module };
  const libpqDir = path.dirname(require.resolve('libpq/package.json', { paths: [path.dirname(require.resolve(moduleId))] }));
  const addon = path.join(libpqDir, 'build', 'Release', 'addon.node');
  const module = new Module(addon, null) as NodeJS.Module & { filename: string; loaded: boolean };
  // The temp dir first; next to the addon when the temp dir is mounted noexec (dlopen fails there).
  const folders = [os.tmpdir(), path.dirname(addon)];
  for (let i = 0; i < folders.length; i++) {
    // The copy goes into a folder mkdtemp just made (random name, mode 0700), with
    // COPYFILE_EXCL: no other user can plant a file or a link under the name in advance, or
    // swap the copy between the write and the dlopen(), which would run their code in ours.
    let folder: string | null = null;
    try {
      folder = fs.mkdtempSync(path.join(folders[i] as string, 'socketlab-libpq-'));
      const copy = path.join(folder, 'addon.node');
      fs.copyFileSync(addon, copy, fs.constants.COPYFILE_EXCL);
      process.dlopen(module, copy);
      break;
    } catch (error) {
      if (i === folders.length - 1) throw error;
    } finally {
      if (folder !== null) fs.rmSync(folder, { recursive: true, force: true });
    }
  }
  module.filename = addon;
  module.loaded = true;
  // The failed attempt may have left half-initialised entries: drop them so they re-run on top of the copy.
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(libpqDir) || key.includes(`${path.sep}pg-native${path.sep}`)) delete require.cache[key];
  }
  require.cache[addon] = module;
  return require(moduleId) as NativeClientConstructor;
}

/** Add libpq connection parameters to a URL unless the caller set them. */
export function withConnectParams(url: string, connectTimeoutMs: number, applicationName = 'socketlab'): string {
  try {
    return setUrlParams(url, {
      // libpq reads connect_timeout in whole seconds and treats anything under 2 as 2.
      connect_timeout: getUrlParam(url, 'connect_timeout') ?? String(Math.max(2, Math.ceil(connectTimeoutMs / 1000))),
      application_name: getUrlParam(url, 'application_name') ?? applicationName,
    });
  } catch {
    return url;
  }
}

function asError(error: Error | string): Error {
  return error instanceof Error ? error : new Error(error);
}

/**
 * pg-native's Client on an async connection. Three behaviours of pg-native are handled here:
 * when the socket fails while a query waits, it emits 'error' but never calls the query's
 * callback; it emits 'error' on an idle connection when the server closes it; and when the
 * server resets the connection (an immediate shutdown with a query unread), libuv reports
 * POLLERR, which the libpq addon ignores (it only looks for UV_READABLE): no event at all,
 * the query would wait for ever. poke() covers the last case by running pg-native's own read
 * handler, whose consumeInput() sees the reset. Everything settles through `fail`, once.
 */
/** The value of a single-row lookup, or null when no row came back. */
function readValue(rows: unknown[][]): string | null {
  const row = rows[0];
  return row === undefined ? null : (row[0] as string | null);
}

/** (id, val) rows as a map from id. */
function readValues(rows: unknown[][]): Map<number, string> {
  const found = new Map<number, string>();
  for (const row of rows) found.set(Number(row[0]), row[1] as string);
  return found;
}

class NativeConnection implements DriverConnection {
  onBroken: ((error: Error) => void) | null = null;
  private readonly client: NativeClient;
  // The promise of the statement in flight and how to read its rows (no closure per statement).
  private pending: { resolve: (result: never) => void; reject: (error: Error) => void; read: (rows: unknown[][]) => unknown } | null = null;
  private broken = false;
  private sentAt = 0;
  private readonly values: string[] = [''];

  constructor(client: NativeClient) {
    this.client = client;
    client.on('error', (error) => this.fail(error));
  }

  lookup(id: number): Promise<string | null> {
    return this.execute(KV.LOOKUP_STATEMENT, String(id), readValue);
  }

  lookupMany(ids: readonly number[]): Promise<Map<number, string>> {
    // An int[] literal: ids are whole numbers (routes.ts checks them), so no quoting.
    return this.execute(KV.BATCH_STATEMENT, `{${ids.join(',')}}`, readValues);
  }

  /** One statement, one promise: `read` turns the rows into the result inside the callback. */
  private execute<T>(statement: string, value: string, read: (rows: unknown[][]) => T): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.broken) {
        reject(new Error('connection is closed'));
        return;
      }
      this.pending = { resolve: resolve as (result: never) => void, reject, read };
      this.sentAt = performance.now();
      this.values[0] = value;
      // pg-native may call back synchronously (a send that fails at once): settled the same way.
      this.client.execute(statement, this.values, (error, rows) => {
        const pending = this.pending;
        if (pending === null) return;
        this.pending = null;
        if (error) {
          // A statement Postgres cancelled (statement_timeout) leaves a healthy connection.
          if (!isStatementTimeout(error)) this.broken = true;
          pending.reject(asError(error));
          return;
        }
        pending.resolve(pending.read(rows) as never);
      });
    });
  }

  poke(now: number, staleMs: number): void {
    if (this.broken || (this.pending !== null && now - this.sentAt < staleMs)) return;
    try {
      this.client._read?.();
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private fail(error: Error): void {
    if (this.broken && this.pending === null) return;
    this.broken = true;
    const pending = this.pending;
    this.pending = null;
    if (pending !== null) pending.reject(error);
    else this.onBroken?.(error);
  }

  close(): void {
    this.broken = true;
    this.pending = null;
    try {
      this.client.end();
    } catch {
      // Already finished.
    }
  }
}

function createNativeDriver(Client: NativeClientConstructor, fallbackReason: string | null): Driver {
  return {
    name: DRIVER.NATIVE,
    fallbackReason,
    connect(url, connectTimeoutMs) {
      const client = new Client({ arrayMode: true, types: RAW_TYPES });
      const conninfo = withConnectParams(url, connectTimeoutMs);
      return new Promise<DriverConnection>((resolve, reject) => {
        let settled = false;
        // The addon runs PQconnectdb on a libuv worker thread: finishing the connection before
        // its callback has fired would free it under that thread's feet. So a give-up only
        // marks the attempt abandoned; the callback closes it.
        let connectReturned = false;
        const endClient = (): void => {
          try {
            client.end();
          } catch {
            // Already finished.
          }
        };
        const settle = (error: Error | null): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (error === null) {
            resolve(new NativeConnection(client));
            return;
          }
          if (connectReturned) endClient();
          reject(error);
        };
        // libpq's connect_timeout bounds the connect itself; this guards the callback path too.
        const timer = setTimeout(() => settle(new Error(`connect timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs + 1000);
        client.on('error', (error) => settle(error));
        client.connect(conninfo, (error) => {
          connectReturned = true;
          if (settled) {
            endClient();
            return;
          }
          if (error) {
            settle(asError(error));
            return;
          }
          client.prepare(KV.LOOKUP_STATEMENT, KV.LOOKUP_SQL, 1, (prepareError) => {
            if (prepareError) settle(asError(prepareError));
            else client.prepare(KV.BATCH_STATEMENT, KV.BATCH_SQL, 1, (batchError) => settle(batchError ? asError(batchError) : null));
          });
        });
      });
    },
  };
}

/** The pure-JS client: a named query is prepared by pg on first use per connection. */
function createJsDriver(fallbackReason: string): Driver {
  const pg = require('pg') as typeof import('pg');
  return {
    name: DRIVER.JS,
    fallbackReason,
    async connect(url, connectTimeoutMs) {
      // pg ignores `passfile=`: pgClientConfig reads the password it names. `options` (the
      // session's statement_timeout) is sent in the startup packet as libpq does.
      const client = new pg.Client({ ...pgClientConfig(url), connectionTimeoutMillis: connectTimeoutMs, application_name: getUrlParam(url, 'application_name') ?? 'socketlab' });
      const connection: DriverConnection & { broken: boolean } = {
        onBroken: null,
        broken: false,
        // net.Socket reports resets itself: nothing to poke.
        poke() {},
        async lookup(id) {
          const result = await client.query<unknown[]>({ name: KV.LOOKUP_STATEMENT, text: KV.LOOKUP_SQL, values: [id], rowMode: 'array' });
          const row = result.rows[0];
          return row === undefined ? null : (row[0] as string | null);
        },
        async lookupMany(ids) {
          // pg sends a JS array as a Postgres array literal.
          const result = await client.query<unknown[]>({ name: KV.BATCH_STATEMENT, text: KV.BATCH_SQL, values: [ids], rowMode: 'array' });
          return readValues(result.rows);
        },
        close() {
          connection.broken = true;
          client.end().catch(() => {});
        },
      };
      client.on('error', (error) => {
        if (connection.broken) return;
        connection.broken = true;
        connection.onBroken?.(error);
      });
      try {
        await client.connect();
      } catch (error) {
        client.end().catch(() => {});
        throw error;
      }
      return connection;
    },
  };
}

const drivers = new Map<string, Driver>();

export interface LoadDriverOptions {
  /** 'auto' (default: SOCKETLAB_PG_DRIVER, else pg-native with fallback), 'pg-native' or 'pg'. */
  preference?: DriverPreference;
  /** Where the loud fallback line goes (default stderr). Printed once per thread. */
  log?: (line: string) => void;
  /** For tests: load this module instead of pg-native, to prove the fallback path. */
  nativeModuleId?: string;
}

/**
 * The driver for this thread. pg-native unless it cannot load or SOCKETLAB_PG_DRIVER=pg;
 * the fallback logs one loud line with the exact fix. Asking for 'pg-native' explicitly when
 * it cannot load falls back too (the lab keeps working) but says so just as loudly.
 */
export function loadDriver(options: LoadDriverOptions = {}): Driver {
  const fromEnv = process.env[DRIVER_ENV];
  const preference: DriverPreference =
    options.preference !== undefined && options.preference !== 'auto' ? options.preference : fromEnv === DRIVER.JS || fromEnv === DRIVER.NATIVE ? fromEnv : 'auto';
  const moduleId = options.nativeModuleId ?? 'pg-native';
  const key = `${preference}:${moduleId}`;
  const known = drivers.get(key);
  if (known !== undefined) return known;

  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  let driver: Driver;
  if (!isMainThread && preference !== DRIVER.JS) {
    // The libpq addon registers its socket watchers on uv_default_loop(), the main thread's
    // loop: an async query from a worker is answered on the wrong thread and crashes the
    // process (measured: a segfault). The blocking API is safe anywhere: openSyncSession().
    const reason = 'pg-native async queries only work on the main thread (the libpq addon watches sockets on the main event loop)';
    log(`socketlab db: WARNING ${reason}: this worker thread uses the pure-JS pg driver; openSyncSession() gives pg-native's blocking API in any thread`);
    driver = createJsDriver(reason);
  } else if (preference === DRIVER.JS) {
    const reason = `forced by ${options.preference === DRIVER.JS ? 'the driver option' : `${DRIVER_ENV}=pg`}`;
    log(`socketlab db: using the pure-JS pg driver (${reason}), not pg-native`);
    driver = createJsDriver(reason);
  } else {
    const loaded = loadPgNative(moduleId);
    if ('Client' in loaded) {
      driver = createNativeDriver(loaded.Client, null);
    } else {
      const hint = installHint().libpq;
      const reason = `pg-native could not load: ${loaded.error}`;
      log(`socketlab db: WARNING ${reason}. FALLING BACK to the pure-JS pg driver (slower, more CPU per query). Fix: ${hint}, then npm rebuild libpq`);
      driver = createJsDriver(reason);
    }
  }
  drivers.set(key, driver);
  return driver;
}
