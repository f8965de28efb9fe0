/**
 * `socketlab lab NAME` and the options every lab run shares (tour uses them too).
 */
import { findLab } from '../labs/registry.js';
import { runLab } from '../labs/runner.js';
import type { LabRunOptions } from '../labs/types.js';
import { EXIT, usageError } from '../errors.js';
import { booleanFlag, parseFlags, stringFlag, type OptionSpec, type ParsedFlags } from './args.js';
import type { Command } from './command.js';

export const LAB_OPTIONS: OptionSpec = {
  yes: { type: 'boolean', short: 'y' },
  quick: { type: 'boolean' },
  json: { type: 'string' },
  'results-dir': { type: 'string' },
};

export const LAB_FLAGS_HELP = `  --yes, -y          run straight through, no pause between steps (the default when not on a terminal)
  --quick            short durations and small counts: a few minutes instead of many
  --json FILE        also write the results to FILE
  --results-dir DIR  where results/<lab>-<timestamp>.json go (default ./results)`;

const USAGE = `Usage: socketlab lab NAME [flags]

Run one lab: what you are about to see, then each step with a spinner while it runs, its
numbers and what they mean. On a terminal it pauses after each step (Enter continues,
q quits and stops everything the lab started).

NAME is a lab's name or number (see socketlab labs).

${LAB_FLAGS_HELP}

Example:
  socketlab lab backlog-overflow --quick
`;

export function labRunOptions(values: ParsedFlags['values']): LabRunOptions {
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  return {
    quick: booleanFlag(values, 'quick'),
    yes: booleanFlag(values, 'yes') || !interactive,
    jsonPath: stringFlag(values, 'json') ?? null,
    resultsDir: stringFlag(values, 'results-dir') ?? 'results',
    out: process.stdout,
    interactive,
  };
}

export const command: Command = {
  name: 'lab',
  summary: 'run one lab step by step (socketlab lab backlog-overflow)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals, help } = parseFlags('lab', argv, LAB_OPTIONS, true);
    if (help) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    if (positionals.length !== 1) throw usageError('socketlab lab needs exactly one lab name (see socketlab labs)');
    const lab = await findLab(positionals[0] as string);
    const { result, exitCode } = await runLab(lab, labRunOptions(values));
    // A signal or a crash: everything the lab started is stopped and its results written, but
    // its own code may still hold a timer or a socket that would keep the process up.
    if (exitCode !== null) process.exit(exitCode);
    return result.outcome === 'failed' ? EXIT.FAILURE : EXIT.OK;
  },
};
