/**
 * The database layer's public face: everything serve, the models, labs and bench use.
 * See docs/database.md for the lifecycle and the numbers.
 */
export { findPgBinaries, installHint, type PgBinaries } from './binaries.js';
export {
  CLUSTER_DEFAULTS,
  clusterUrl,
  liveClusters,
  startEmbeddedCluster,
  stateDir,
  type ClusterOptions,
  type ClusterTimings,
  type EmbeddedCluster,
} from './cluster.js';
export { getUrlParam, pgClientConfig, redactUrl, setUrlParams } from './credentials.js';
export { DB_LIMIT_OFF, DB_LIMITS, resolveDbLimits, withStatementTimeout, type DbLimits } from './limits.js';
export {
  DB_TARGET,
  describeLimits,
  openDatabase,
  resolveDatabaseTarget,
  type Database,
  type DatabaseOptions,
  type DatabaseStats,
  type DatabaseTarget,
} from './database.js';
export { DRIVER, DRIVER_ENV, loadDriver, type DriverName, type DriverPreference } from './driver.js';
export {
  ConnectionPool,
  createPool,
  mergePoolSnapshots,
  POOL_DEFAULTS,
  type BatchStats,
  type CountSummary,
  type PoolLease,
  type PoolOptions,
  type PoolSnapshot,
  type PoolStats,
} from './pool.js';
export { KV } from './seed.js';
export { openSyncSession, type SyncSession, type SyncSessionStats } from './sync-session.js';
