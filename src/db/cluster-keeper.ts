/**
 * The keeper of one throwaway cluster: a small process that outlives its owner by exactly as
 * long as it takes to stop that owner's postmaster and delete its folder.
 *
 * A socketlab process killed by SIGKILL or the OOM killer runs no exit handler, and its
 * postmaster (a daemon in its own session) would run on for good. The keeper is started
 * before the postmaster, detached in a session of its own (a Ctrl-C meant for the owner does
 * not reach it), with a pipe from the owner as stdin. The kernel closes that pipe when the
 * owner dies, however it dies, so the keeper sees end-of-file at once; a check of the
 * owner's PID and start time every KEEPER_POLL_MS is the backstop. An owner that stops its
 * cluster itself writes "release" first, and the keeper just exits.
 *
 * Like the listen-socket keeper (src/server/listen-socket-keeper.ts), it owns one thing and
 * does nothing else. It loads no database driver: only the file and pg_ctl helpers.
 *
 * argv[2]: a JSON KeeperOrders (keeper-protocol.ts).
 */
import { removeTree } from './cluster-files.js';
import { stopPostmaster } from './postmaster.js';
import { KEEPER_RELEASE, type KeeperOrders } from './keeper-protocol.js';
import { isSameProcessAlive } from './processes.js';

const KEEPER_POLL_MS = 1000;
const STOP_STEP_TIMEOUT_MS = 10_000;

const orders = JSON.parse(process.argv[2] ?? '{}') as KeeperOrders;
let released = false;
let cleaning = false;

function log(line: string): void {
  // stderr is the cluster's log (opened by the owner): the last lines say what happened.
  process.stderr.write(`${new Date().toISOString()} socketlab keeper[${process.pid}]: ${line}\n`);
}

async function cleanUp(why: string): Promise<void> {
  if (released || cleaning) return;
  cleaning = true;
  log(`${why}: stopping its cluster`);
  try {
    const pid = await stopPostmaster({ pgCtl: orders.pgCtl, dataDir: orders.dataDir, runAs: orders.runAs }, 'immediate', STOP_STEP_TIMEOUT_MS);
    log(pid === null ? 'no postmaster was running' : `postmaster ${pid} stopped`);
    await removeTree(orders.folder, orders.runAs);
  } catch (error) {
    log(`clean-up failed: ${error instanceof Error ? error.message : String(error)} (the next socketlab start sweeps it)`);
    process.exitCode = 1;
  }
  process.exit();
}

process.stdin.setEncoding('utf8');
let received = '';
process.stdin.on('data', (chunk: string) => {
  received += chunk;
  if (received.includes(KEEPER_RELEASE.trim())) {
    released = true;
    process.exit(0);
  }
});
process.stdin.on('end', () => void cleanUp(`owner ${orders.ownerPid} closed its end (it exited)`));
process.stdin.on('error', () => void cleanUp(`owner ${orders.ownerPid}'s pipe failed`));
setInterval(() => {
  if (!isSameProcessAlive(orders.ownerPid, orders.ownerStartTime)) void cleanUp(`owner ${orders.ownerPid} is gone`);
}, KEEPER_POLL_MS);
// A terminal's signals are the owner's to act on (it stops its cluster in order); the keeper
// is in a session of its own anyway. SIGTERM keeps its default: whoever sends it wants the
// keeper gone, and the owner, if alive, still stops its own cluster.
for (const signal of ['SIGINT', 'SIGHUP'] as const) process.on(signal, () => {});
