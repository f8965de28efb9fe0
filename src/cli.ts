#!/usr/bin/env node
/**
 * `socketlab`: one entry point, one module per subcommand under cli/. Modules are loaded
 * lazily so that `socketlab --help` does not pay for Postgres drivers or worker pools.
 */
import { EXIT, isLabError } from './errors.js';
import type { Command } from './cli/command.js';

const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  serve: () => import('./cli/serve.js'),
  inspect: () => import('./cli/inspect.js'),
  load: () => import('./cli/load.js'),
  diagnose: () => import('./cli/diagnose.js'),
  db: () => import('./cli/db.js'),
  labs: () => import('./cli/labs.js'),
  lab: () => import('./cli/lab.js'),
  tour: () => import('./cli/tour.js'),
  report: () => import('./cli/report.js'),
  bench: () => import('./cli/bench.js'),
  docs: () => import('./cli/docs.js'),
};

async function loadAll(): Promise<Command[]> {
  return Promise.all(Object.values(COMMANDS).map(async (load) => (await load()).command));
}

async function printHelp(): Promise<void> {
  const commands = await loadAll();
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  process.stdout.write(
    [
      'socketlab: why one server cannot serve a million users, measured on this machine.',
      '',
      'Usage: socketlab <command> [flags]',
      '',
      'Commands:',
      ...lines,
      '',
      'Run `socketlab <command> --help` for its flags and an example.',
      '',
    ].join('\n'),
  );
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] !== undefined && COMMANDS[rest[0]]) {
      return main([rest[0], '--help']);
    }
    await printHelp();
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '--version' || name === '-v') {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return EXIT.OK;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    process.stderr.write(`socketlab: unknown command "${name}" (see socketlab --help)\n`);
    return EXIT.USAGE;
  }
  const { command } = await load();
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isLabError(error)) {
      process.stderr.write(`socketlab: ${error.message}\n`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(`socketlab: unexpected failure, please report it:\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = EXIT.FAILURE;
    }
  },
);
