/**
 * A blocking database session for the thread-per-connection model: each thread owns one
 * Postgres connection and waits on it, the way a classic thread-per-request server does.
 * pg-native's synchronous calls (connectSync, prepareSync, executeSync) block only the
 * calling thread, which is the point of that model and what its lab measures.
 *
 * The connection opens on the first lookup (a thread that never serves /uuid costs Postgres
 * nothing) and again after a failure, so the session recovers by itself once Postgres is
 * back. While it is down, each lookup fails fast: a refused connect returns at once (a hung
 * server blocks for libpq's connect_timeout, 2 s).
 */
import { LAB_ERR, LabError } from '../errors.js';
import { createHistogram, encodeHistogram, recordMillis, summarizeHistogram, type Histogram, type LatencySummary } from '../metrics/histogram.js';
import { installHint } from './binaries.js';
import { describeServer } from './credentials.js';
import { loadPgNative, withConnectParams, type NativeClient } from './driver.js';
import { isStatementTimeout, statementTimeoutInUrl, withDefaultStatementTimeout, withStatementTimeout } from './limits.js';
import { POOL_DEFAULTS } from './pool.js';
import { firstLine, KV } from './seed.js';

export interface SyncSessionStats {
  connected: boolean;
  connects: number;
  connectFailures: number;
  errors: number;
  /** Lookups Postgres cancelled at statement_timeout (the session stays open: it is healthy). */
  statementTimeouts: number;
  /** The session's statement_timeout in ms, null when off. */
  statementTimeoutMs: number | null;
  queryMs: LatencySummary;
  /** Encoded, to merge the sessions of many threads exactly. */
  queryHistogram: string;
}

/** A blocking session; its lookupSync() is app's UuidStoreSync by shape (db imports nothing of app). */
export interface SyncSession {
  /** Blocks this thread until Postgres answers. Throws LabError DB_QUERY on failure. */
  lookupSync(id: number): string | null;
  stats(): SyncSessionStats;
  close(): void;
}

/**
 * Open a session (lazily connected) on `url`. statement_timeout is the one `url` names in
 * its `options` (what openDatabase hands the model's threads) unless `statementTimeoutMs`
 * is given (null: off), else the production default (limits.ts): a blocked lookup blocks this thread only that
 * long. Throws LabError PG_MISSING when pg-native cannot load in this thread: there is no
 * blocking pure-JS driver to fall back to.
 */
export function openSyncSession(url: string, options: { connectTimeoutMs?: number; statementTimeoutMs?: number | null } = {}): SyncSession {
  const loaded = loadPgNative();
  if (!('Client' in loaded)) {
    throw new LabError(
      LAB_ERR.PG_MISSING,
      `the thread model needs pg-native's blocking API, and pg-native could not load (${loaded.error}): ${installHint().libpq}, then npm rebuild libpq`,
    );
  }
  const { Client } = loaded;
  const sessionUrl = options.statementTimeoutMs === undefined ? withDefaultStatementTimeout(url) : withStatementTimeout(url, options.statementTimeoutMs);
  const statementTimeoutMs = statementTimeoutInUrl(sessionUrl) ?? null;
  const conninfo = withConnectParams(sessionUrl, options.connectTimeoutMs ?? POOL_DEFAULTS.CONNECT_TIMEOUT_MS, 'socketlab-thread');
  const histogram: Histogram = createHistogram();
  const counters = { connects: 0, connectFailures: 0, errors: 0, statementTimeouts: 0 };
  const values: string[] = [''];
  let client: NativeClient | null = null;

  const disconnect = (): void => {
    if (client === null) return;
    try {
      client.end();
    } catch {
      // Already finished.
    }
    client = null;
  };

  const connect = (): NativeClient => {
    const fresh = new Client({ arrayMode: true, types: { getTypeParser: () => (text: string) => text } });
    // The reader is never started on a sync session, but an 'error' without a listener would throw.
    fresh.on('error', () => {});
    try {
      fresh.connectSync(conninfo);
      fresh.prepareSync(KV.LOOKUP_STATEMENT, KV.LOOKUP_SQL, 1);
    } catch (error) {
      counters.connectFailures += 1;
      try {
        fresh.end();
      } catch {
        // connectSync already finished it.
      }
      throw new LabError(LAB_ERR.DB_QUERY, `cannot connect to ${describeServer(url)}: ${firstLine(error)}`, { cause: error });
    }
    counters.connects += 1;
    return fresh;
  };

  return {
    lookupSync(id: number): string | null {
      client ??= connect();
      const session = client;
      values[0] = String(id);
      const started = performance.now();
      let rows: unknown[][];
      try {
        rows = session.executeSync(KV.LOOKUP_STATEMENT, values);
      } catch (error) {
        counters.errors += 1;
        if (isStatementTimeout(error)) {
          // Postgres cancelled the statement and the session is fine: keep it.
          counters.statementTimeouts += 1;
          throw new LabError(LAB_ERR.DB_QUERY, `query cancelled after statement_timeout (${statementTimeoutMs} ms)`, { cause: error });
        }
        // Anything else: this connection is suspect, the next lookup starts a new one.
        disconnect();
        throw new LabError(LAB_ERR.DB_QUERY, `query failed: ${firstLine(error)}`, { cause: error });
      }
      recordMillis(histogram, performance.now() - started);
      const row = rows[0];
      return row === undefined ? null : (row[0] as string | null);
    },
    stats() {
      return { connected: client !== null, ...counters, statementTimeoutMs, queryMs: summarizeHistogram(histogram), queryHistogram: encodeHistogram(histogram) };
    },
    close: disconnect,
  };
}
