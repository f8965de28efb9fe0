/**
 * What a cluster's owner and its keeper (cluster-keeper.ts) tell each other: the orders the
 * keeper starts with (argv), and the one line the owner writes when it stopped the cluster
 * itself. Kept apart so the owner never imports the keeper's script, which runs on import.
 */
import type { SystemUser } from './processes.js';

export interface KeeperOrders {
  ownerPid: number;
  /** With the PID, tells the owner from a later process that reused its PID. */
  ownerStartTime: number | null;
  /** The cluster's folder, deleted after the postmaster stops. */
  folder: string;
  dataDir: string;
  pgCtl: string;
  runAs: SystemUser | null;
}

/** Written to the keeper's stdin by an owner that stopped its cluster: exit, touch nothing. */
export const KEEPER_RELEASE = 'release\n';
