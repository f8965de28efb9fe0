/**
 * Finding the PostgreSQL server binaries (initdb, pg_ctl, postgres, pgbench, psql) and, when they or
 * libpq are missing, saying in one line which package to install on this distribution.
 *
 * Search order: `pg_config --bindir` (what the installed dev package points at), then the
 * versioned folders distributions use (Debian/Ubuntu /usr/lib/postgresql/N/bin, the PGDG RPMs'
 * /usr/pgsql-N/bin; newest first), then PATH (Fedora, Arch, Alpine, Homebrew put initdb there).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LAB_ERR, LabError } from '../errors.js';

export interface PgBinaries {
  binDir: string;
  initdb: string;
  /** Starts (waiting until ready) and stops the postmaster: postmaster.ts. */
  pgCtl: string;
  postgres: string;
  /** Null when the distribution ships it in a separate package (the bench then says so). */
  pgbench: string | null;
  psql: string | null;
  /** e.g. "15.18". */
  version: string;
  major: number;
}

/** Folders that hold one PostgreSQL version each; the number in the name is the major. */
const VERSIONED_BIN_DIRS = [
  { parent: '/usr/lib/postgresql', bin: (entry: string) => path.join('/usr/lib/postgresql', entry, 'bin') },
  { parent: '/usr', bin: (entry: string) => (entry.startsWith('pgsql-') ? path.join('/usr', entry, 'bin') : null) },
] as const;

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pgConfigBinDir(): string | null {
  const result = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8', timeout: 5000 });
  if (result.status !== 0 || typeof result.stdout !== 'string') return null;
  const dir = result.stdout.trim();
  return dir === '' ? null : dir;
}

function versionedBinDirs(): string[] {
  const found: { dir: string; major: number }[] = [];
  for (const { parent, bin } of VERSIONED_BIN_DIRS) {
    let entries: string[];
    try {
      entries = readdirSync(parent);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const dir = bin(entry);
      const major = Number(/(\d+)/.exec(entry)?.[1]);
      if (dir !== null && Number.isFinite(major)) found.push({ dir, major });
    }
  }
  return found.sort((a, b) => b.major - a.major).map((f) => f.dir);
}

function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
}

function findOnPath(name: string): string | null {
  for (const dir of pathDirs()) {
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return null;
}

function readVersion(postgres: string): string | null {
  const result = spawnSync(postgres, ['--version'], { encoding: 'utf8', timeout: 5000 });
  // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
  const match = typeof result.stdout === 'string' ? /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(result.stdout) : null;
  return match?.[1] ?? null;
}

let cached: PgBinaries | null = null;

/**
 * The first folder that holds initdb, pg_ctl and postgres (one package ships all three). Throws LabError PG_MISSING with the
 * package to install when none does.
 */
export function findPgBinaries(): PgBinaries {
  if (cached !== null) return cached;
  const candidates = [pgConfigBinDir(), ...versionedBinDirs(), ...pathDirs()].filter((d): d is string => d !== null);
  for (const binDir of new Set(candidates)) {
    const initdb = path.join(binDir, 'initdb');
    const postgres = path.join(binDir, 'postgres');
    const pgCtl = path.join(binDir, 'pg_ctl');
    if (!isExecutable(initdb) || !isExecutable(postgres) || !isExecutable(pgCtl)) continue;
    const version = readVersion(postgres);
    if (version === null) continue;
    const sibling = (name: string): string | null => (isExecutable(path.join(binDir, name)) ? path.join(binDir, name) : findOnPath(name));
    cached = { binDir, initdb, pgCtl, postgres, pgbench: sibling('pgbench'), psql: sibling('psql'), version, major: Number(version.split('.')[0]) };
    return cached;
  }
  throw new LabError(
    LAB_ERR.PG_MISSING,
    `PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in pg_config --bindir, /usr/lib/postgresql/*/bin or PATH: ` +
      `install them with \`${installHint().server}\`, or use a running server with --db postgresql://... (or DATABASE_URL)`,
  );
}

/** How to type psql here: plain `psql` when it is on PATH, else its full path next to the server. */
export function psqlCommand(psql: string | null): string {
  return findOnPath('psql') !== null || psql === null ? 'psql' : psql;
}

/** The distribution family, from /etc/os-release (ID and ID_LIKE), or macOS. */
function osFamily(): 'debian' | 'fedora' | 'alpine' | 'arch' | 'suse' | 'macos' | 'unknown' {
  if (process.platform === 'darwin') return 'macos';
  let text = '';
  try {
    text = readFileSync('/etc/os-release', 'utf8');
  } catch {
    return 'unknown';
  }
  const ids = [...text.matchAll(/^(?:ID|ID_LIKE)="?([^"\n]*)"?$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
  if (ids.some((id) => id === 'debian' || id === 'ubuntu')) return 'debian';
  if (ids.some((id) => id === 'fedora' || id === 'rhel' || id === 'centos')) return 'fedora';
  if (ids.includes('alpine')) return 'alpine';
  if (ids.includes('arch')) return 'arch';
  if (ids.some((id) => id.includes('suse'))) return 'suse';
  return 'unknown';
}

/** Exact install commands for the server binaries and for libpq's headers (what pg-native builds against). */
export function installHint(): { server: string; libpq: string } {
  switch (osFamily()) {
    case 'debian':
      return { server: 'apt-get install postgresql', libpq: 'apt-get install libpq-dev' };
    case 'fedora':
      return { server: 'dnf install postgresql-server postgresql-contrib', libpq: 'dnf install libpq-devel' };
    case 'alpine':
      return { server: 'apk add postgresql postgresql-contrib', libpq: 'apk add libpq-dev' };
    case 'arch':
      return { server: 'pacman -S postgresql', libpq: 'pacman -S postgresql-libs' };
    case 'suse':
      return { server: 'zypper install postgresql-server postgresql-contrib', libpq: 'zypper install libpq5 postgresql-devel' };
    case 'macos':
      return { server: 'brew install postgresql', libpq: 'brew install libpq' };
    default:
      return { server: 'your package manager: the PostgreSQL server package', libpq: 'your package manager: the libpq development package' };
  }
}
