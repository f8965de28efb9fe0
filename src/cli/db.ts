/**
 * `socketlab db start|stop|status`: a throwaway Postgres kept up between commands, for
 * poking at with psql or pointing `socketlab serve --db URL` at.
 */
import { EXIT, usageError } from '../errors.js';
import { booleanFlag, parseFlags, parseIntegerFlag, stringFlag, type OptionSpec } from './args.js';
import type { Command } from './command.js';

const USAGE = `Usage: socketlab db start [--rows N] [--max-connections N] [--shared-buffers SIZE]
       socketlab db stop
       socketlab db status [--json]

Keeps a throwaway PostgreSQL cluster running for manual exploration, with table
kv(id int primary key, val uuid) seeded with ids 1..N and random UUIDs. It listens on
127.0.0.1 only, on a free port, and lives under .socketlab/ in the project.

Only you can connect: every connection needs the cluster's random password (scram-sha-256),
which is in a pgpass file readable by you alone. The URL printed names that file
(passfile=...), never the password, so psql, pgbench and socketlab serve work with it as it
is, and it is safe to paste anywhere.

  start    start the cluster (or show the one already running) and print its URL
  stop     stop it and delete its folder
  status   say whether it runs; exit 0 when it does, 1 when it does not

Flags (start):
  --rows N              rows in kv (default 1000)
  --max-connections N   Postgres max_connections (default 300)
  --shared-buffers SIZE Postgres shared_buffers, e.g. 128MB (default 128MB)
Flags (status):
  --json                print the recorded state as JSON

Example:
  socketlab db start --rows 1000
  psql 'postgresql://postgres@127.0.0.1:PORT/postgres?passfile=...' -c 'SELECT * FROM kv LIMIT 3'
  socketlab serve --db 'postgresql://postgres@127.0.0.1:PORT/postgres?passfile=...'
  PGPASSFILE=... pgbench -h 127.0.0.1 -p PORT -U postgres postgres
  socketlab db stop
`;

const OPTIONS: OptionSpec = {
  rows: { type: 'string' },
  'max-connections': { type: 'string' },
  'shared-buffers': { type: 'string' },
  json: { type: 'boolean' },
};

const ACTIONS = ['start', 'stop', 'status'] as const;
type Action = (typeof ACTIONS)[number];

function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** A word for a POSIX shell: the URL holds `?` and `&`. */
function shellWord(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

async function printConnectHelp(state: { url: string; psql: string | null; passfile?: string; port: number }): Promise<void> {
  const { psqlCommand } = await import('../db/binaries.js');
  print(`  url    ${state.url}`);
  print(`  psql   ${psqlCommand(state.psql)} ${shellWord(state.url)}`);
  print(`  serve  socketlab serve --db ${shellWord(state.url)}`);
  if (state.passfile !== undefined) {
    print(`  auth   scram-sha-256; the password is in ${state.passfile} (mode 0600, yours alone); tools given -h/-p read it with PGPASSFILE=${shellWord(state.passfile)}`);
  }
  print('  stop   socketlab db stop');
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags('db', argv, OPTIONS, true);
  if (help) {
    process.stdout.write(USAGE);
    return EXIT.OK;
  }
  const [action, extra] = positionals;
  if (action === undefined) throw usageError('socketlab db: say what to do: start, stop or status (see socketlab db --help)');
  if (!(ACTIONS as readonly string[]).includes(action)) throw usageError(`socketlab db: unknown action "${action}": use start, stop or status`);
  if (extra !== undefined) throw usageError(`socketlab db: unexpected argument "${extra}"`);
  const startOnly = ['rows', 'max-connections', 'shared-buffers'].filter((name) => values[name] !== undefined);
  if (action !== 'start' && startOnly.length > 0) throw usageError(`socketlab db ${action}: --${startOnly[0]} only applies to db start`);
  if (action !== 'status' && booleanFlag(values, 'json')) throw usageError(`socketlab db ${action}: --json only applies to db status`);

  // Loaded here so that `socketlab db --help` never touches the database code.
  const manual = await import('../db/manual-cluster.js');
  switch (action as Action) {
    case 'start': {
      const rows = parseIntegerFlag('rows', stringFlag(values, 'rows'), 1000, 1, 100_000_000);
      const maxConnections = parseIntegerFlag('max-connections', stringFlag(values, 'max-connections'), 300, 1, 100_000);
      const sharedBuffers = stringFlag(values, 'shared-buffers');
      if (sharedBuffers !== undefined && !/^\d+(kB|MB|GB|TB)$/.test(sharedBuffers)) {
        throw usageError(`--shared-buffers must be a size like 128MB or 1GB (units kB, MB, GB, TB), got "${sharedBuffers}"`);
      }
      const { state, alreadyRunning } = await manual.startManualCluster({ rows, maxConnections, ...(sharedBuffers === undefined ? {} : { sharedBuffers }) });
      print(
        alreadyRunning
          ? `already running: PostgreSQL ${state.version} on 127.0.0.1:${state.port} (postmaster pid ${state.postmasterPid}) since ${state.startedAt}, kv has ${state.rows} rows`
          : `started PostgreSQL ${state.version} on 127.0.0.1:${state.port} (postmaster pid ${state.postmasterPid}), kv has ${state.rows} rows`,
      );
      await printConnectHelp(state);
      return EXIT.OK;
    }
    case 'stop': {
      const stopped = await manual.stopManualCluster();
      if (stopped === null) print('no cluster running: nothing to stop');
      else if (stopped.wasRunning)
        print(`stopped PostgreSQL on 127.0.0.1:${stopped.state.port} (postmaster pid ${stopped.state.postmasterPid}) and deleted ${stopped.state.folder}`);
      else print(`the cluster recorded on port ${stopped.state.port} was no longer running (a crash or a reboot): cleaned up its folder`);
      return EXIT.OK;
    }
    case 'status': {
      const status = manual.manualClusterStatus();
      if (booleanFlag(values, 'json')) {
        print(JSON.stringify({ running: status.running, ...(status.state ?? {}) }));
      } else if (status.running && status.state !== null) {
        print(`running: PostgreSQL ${status.state.version} on 127.0.0.1:${status.state.port} (postmaster pid ${status.state.postmasterPid}) since ${status.state.startedAt}`);
        await printConnectHelp(status.state);
      } else if (status.state !== null) {
        print(`not running: the cluster recorded on port ${status.state.port} is gone (a crash or a reboot); socketlab db start starts a new one`);
      } else {
        print('not running: start one with socketlab db start');
      }
      return status.running ? EXIT.OK : EXIT.FAILURE;
    }
  }
}

export const command: Command = {
  name: 'db',
  summary: 'start, stop or check a throwaway PostgreSQL for manual exploration',
  usage: USAGE,
  run,
};
