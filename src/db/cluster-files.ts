/**
 * Every file operation socketlab makes in a cluster's folders, written so that root never
 * follows a link the cluster user could have planted.
 *
 * When socketlab runs as root, Postgres runs as `postgres`, and anything in a folder that user
 * owns can be swapped for a symlink (to /etc/shadow, say) between two of root's system calls.
 * So:
 * - the files root writes or reads (owner.json, postgres.log, pgpass, the template's secret)
 *   live in folders root owns and only root can write: the cluster user cannot rename or
 *   replace anything there;
 * - they are opened with O_NOFOLLOW (and O_NONBLOCK for reads, so a FIFO cannot hang root),
 *   and a file that is not a regular file owned by us is refused;
 * - a folder the cluster user owns (data/) is deleted by that user (`rm -rf` with its uid),
 *   so a link planted inside can only lead to what that user could delete anyway; root then
 *   removes only the empty folder from its own parent.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LAB_ERR, LabError, errnoCode } from '../errors.js';
import { runAsUserAsync, type SystemUser } from './processes.js';

const { O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = fs.constants;

export function currentUid(): number {
  return process.getuid?.() ?? 0;
}

/** A regular file owned by us, or throw: what root accepts to read or append to. */
function assertOwnRegularFile(fd: number, file: string): fs.Stats {
  const stat = fs.fstatSync(fd);
  if (!stat.isFile() || stat.uid !== currentUid()) {
    throw new LabError(LAB_ERR.PG_CLUSTER, `${file} is not a regular file owned by uid ${currentUid()}: refusing to use it (remove it and retry)`);
  }
  return stat;
}

function refuseLink(error: unknown, file: string): never {
  if (errnoCode(error) === 'ELOOP') throw new LabError(LAB_ERR.PG_CLUSTER, `${file} is a symbolic link: refusing to follow it (remove it and retry)`, { cause: error });
  throw error;
}

/**
 * Make `dir` (not its parents) with `mode`, or accept it if it exists as a real folder owned
 * by us. mkdir's mode is filtered by the umask, hence the chmod, done on the checked folder.
 */
export function ensureOwnFolder(dir: string, mode: number): void {
  try {
    fs.mkdirSync(dir, { mode });
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
  }
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== currentUid()) {
    throw new LabError(LAB_ERR.PG_CLUSTER, `${dir} exists but is not a folder owned by uid ${currentUid()}: remove it and retry`);
  }
  if ((stat.mode & 0o7777) !== mode) fs.chmodSync(dir, mode);
}

/** Open `file` to append (created 0600), never through a link. The caller closes the fd. */
export function openAppendNoFollow(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
  } catch (error) {
    refuseLink(error, file);
  }
  try {
    assertOwnRegularFile(fd, file);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  return fd;
}

/**
 * Write `content` to `file` atomically: a new file (O_EXCL, so never through a link) with
 * `mode`, renamed over `file` (rename replaces a link, it does not follow it).
 */
export function writeFileNoFollow(file: string, content: string, mode = 0o600): void {
  const temporary = `${file}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  const fd = fs.openSync(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    fs.writeFileSync(fd, content);
    fs.fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}

/**
 * At most `maxBytes` of `file` from `offset` (negative: that many bytes before the end), or
 * null when it is missing. Never through a link, never from a FIFO or device, only from a
 * regular file owned by `uid` (default: us).
 */
export function readFileNoFollow(file: string, options: { maxBytes?: number; offset?: number; uid?: number } = {}): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return null;
    refuseLink(error, file);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile() || stat.uid !== (options.uid ?? currentUid())) {
      throw new LabError(LAB_ERR.PG_CLUSTER, `${file} is not a regular file owned by uid ${options.uid ?? currentUid()}: refusing to read it`);
    }
    const maxBytes = options.maxBytes ?? 64 * 1024;
    const wanted = options.offset ?? 0;
    const start = wanted < 0 ? Math.max(0, stat.size + wanted) : Math.min(wanted, stat.size);
    const buffer = Buffer.alloc(Math.min(maxBytes, stat.size - start));
    const read = fs.readSync(fd, buffer, 0, buffer.length, start);
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** The size of a file we own (0 when missing): where this launch's log output starts. */
export function fileSize(file: string): number {
  try {
    const stat = fs.lstatSync(file);
    return stat.isFile() ? stat.size : 0;
  } catch {
    return 0;
  }
}

/**
 * Delete `target` and everything under it without ever following a link: entries root owns
 * are removed by root after lstat (a link is unlinked, never entered); a folder the cluster
 * user owns is emptied by that user (rm -rf with its uid and gid) and only then removed by
 * root. Any other owner is refused. Missing entries are fine: another process (the owner's
 * keeper, a sweep) may be deleting the same folder.
 */
export async function removeTree(target: string, runAs: SystemUser | null): Promise<void> {
  if (runAs === null) {
    // One user owns everything: nothing to escalate, so the plain recursive delete is right.
    await fsp.rm(target, { recursive: true, force: true, maxRetries: 3 });
    return;
  }
  let stat: fs.Stats;
  try {
    stat = await fsp.lstat(target);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw error;
  }
  if (!stat.isDirectory()) {
    await fsp.rm(target, { force: true });
    return;
  }
  if (stat.uid === runAs.uid) {
    const result = await runAsUserAsync('rm', ['-rf', '--', target], runAs, { timeoutMs: 60_000 });
    // rm, as the cluster user, cannot unlink the folder itself from a parent root owns: that
    // last rmdir is root's, on a folder that is empty now (rmdir never follows a link).
    await removeEmptyFolder(target, result.output);
    return;
  }
  if (stat.uid !== currentUid()) {
    throw new LabError(LAB_ERR.PG_CLUSTER, `${target} is owned by uid ${stat.uid}, neither socketlab (uid ${currentUid()}) nor ${runAs.name}: not deleting it`);
  }
  let entries: string[] = [];
  try {
    entries = await fsp.readdir(target);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
  for (const entry of entries) await removeTree(path.join(target, entry), runAs);
  await removeEmptyFolder(target, '');
}

async function removeEmptyFolder(folder: string, why: string): Promise<void> {
  try {
    await fsp.rmdir(folder);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw new LabError(LAB_ERR.PG_CLUSTER, `cannot delete ${folder}: ${errnoCode(error) ?? String(error)}${why.trim() === '' ? '' : ` (${why.trim().split('\n')[0]})`}`, {
      cause: error,
    });
  }
}
