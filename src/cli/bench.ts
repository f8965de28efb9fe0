/**
 * `socketlab bench [NAME] [-- args]`: the benchmark programs in bench/ (compiled beside this
 * tree in dist/bench), listed with what each measures, and run one by name with its own
 * arguments. Each program is found by its file, and described by the first sentence of the
 * comment it opens with, so adding a benchmark is adding a file.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, usageError } from '../errors.js';
import { renderTable } from '../format/table.js';
import type { Command } from './command.js';

const BENCH_DIR = fileURLToPath(new URL('../../bench/', import.meta.url));
/** The order a reader meets them in: the parts bottom-up, then the whole, then the seed. */
const ORDER = ['parser', 'serve', 'profile', 'load', 'db', 'models', 'metrics-overhead', 'seed'] as const;
const SUMMARY_MAX = 96;

const USAGE = `Usage: socketlab bench [NAME] [--] [ARGS...]

List the benchmark programs (no NAME), or run one: socketlab bench NAME runs
dist/bench/NAME.js with ARGS passed through unchanged (a "--" before them is optional).
socketlab bench NAME --help prints what that program measures and its own flags.

Each prints its figures as tables; compare ratios measured in one run on one machine,
never against a remembered number. Some need tools (wrk, PostgreSQL) and say so.
Each takes --json FILE: every figure it printed, every round, with the program, its
arguments, the machine, the date and the tool versions; socketlab docs rebuilds the
figure tables in docs/ from those written to docs/results/bench/NAME.json. A FILE that exists
is overwritten only with --force (checked before anything is measured).

Examples:
  socketlab bench
  socketlab bench parser
  socketlab bench serve -- --duration 2 --rounds 1
  socketlab bench seed --quick
  socketlab bench seed -- --only uuid-7500-local,uuid-10000-local --json seed.json
  socketlab bench serve -- --json docs/results/bench/serve.json --force && socketlab docs
`;

export interface BenchProgram {
  name: string;
  file: string;
  /** The first sentence of the program's opening comment. */
  summary: string;
  /** The whole opening comment, as text. */
  doc: string;
}

/** Every bench program in `dir` (default dist/bench), in reading order. */
export function listBenchPrograms(dir: string = BENCH_DIR): BenchProgram[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((file) => file.endsWith('.js'));
  } catch {
    return [];
  }
  const rank = (name: string): number => {
    const i = (ORDER as readonly string[]).indexOf(name);
    return i === -1 ? ORDER.length : i;
  };
  return files
    .map((file) => {
      const doc = readDocComment(path.join(dir, file));
      return { name: file.replace(/\.js$/, ''), file: path.join(dir, file), summary: firstSentence(doc), doc };
    })
    .sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

/** The text of the `/** ... *\/` comment a file opens with (after any #! line), or ''. */
export function readDocComment(file: string): string {
  const source = readFileSync(file, 'utf8').replace(/^#!.*\n/, '');
  const match = /^\s*\/\*\*([\s\S]*?)\*\//.exec(source);
  if (match === null) return '';
  return (match[1] as string)
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, ''))
    .join('\n')
    .trim();
}

/** Up to the first full stop or question mark that ends a sentence, on one line, shortened to fit. */
export function firstSentence(doc: string): string {
  const paragraph = (doc.split(/\n\s*\n/)[0] ?? '').replace(/\s+/g, ' ').trim();
  const end = /[.?](\s|$)/.exec(paragraph);
  // A paragraph that leads into a list ("... in one run on this machine:") ends at its colon.
  let sentence = (end === null ? paragraph : paragraph.slice(0, end.index + 1)).replace(/:$/, '');
  if (sentence.length > SUMMARY_MAX) sentence = `${sentence.slice(0, sentence.lastIndexOf(' ', SUMMARY_MAX - 1))} …`;
  return sentence;
}

export const command: Command = {
  name: 'bench',
  summary: 'list the benchmark programs, or run one (socketlab bench serve)',
  usage: USAGE,
  async run(argv) {
    const [first, ...rest] = argv;
    const programs = listBenchPrograms();
    if (first === '--help' || first === '-h') {
      process.stdout.write(`${USAGE}\n${renderList(programs)}`);
      return EXIT.OK;
    }
    if (first === undefined) {
      process.stdout.write(renderList(programs));
      return EXIT.OK;
    }
    if (first.startsWith('-')) throw usageError(`socketlab bench: unknown flag "${first}": name a program first (see socketlab bench --help)`);
    const program = programs.find((p) => p.name === first);
    if (program === undefined) {
      const names = programs.map((p) => p.name).join(', ');
      throw usageError(`socketlab bench: no program named "${first}"${names === '' ? ' (dist/bench is empty: run npx tsc -p . first)' : `: choose one of ${names}`}`);
    }
    if (rest.length === 1 && (rest[0] === '--help' || rest[0] === '-h')) {
      process.stdout.write(`socketlab bench ${program.name} (${path.relative(process.cwd(), program.file) || program.file})\n\n${program.doc}\n`);
      return EXIT.OK;
    }
    return runProgram(program, rest[0] === '--' ? rest.slice(1) : rest);
  },
};

function renderList(programs: readonly BenchProgram[]): string {
  if (programs.length === 0) return 'No benchmark programs found in dist/bench: build first (npx tsc -p .).\n';
  const table = renderTable(
    ['program', 'what it measures'],
    programs.map((p) => [p.name, p.summary]),
    { indent: 2 },
  );
  return `Benchmark programs (dist/bench):\n\n${table}\n\nRun one: socketlab bench NAME [-- ARGS]   Its flags: socketlab bench NAME --help\n`;
}

/** Run a program as its own process, its output straight to this terminal; resolve to its exit status. */
function runProgram(program: BenchProgram, args: string[]): Promise<number> {
  const child = spawn(process.execPath, [program.file, ...args], { stdio: 'inherit' });
  // Ctrl-C reaches the whole foreground process group, the program included; a signal sent
  // to this process alone (SIGTERM from a supervisor) is passed on so the program can clean up.
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? 128 + (signal === null ? 0 : os.constants.signals[signal]));
    });
  });
}
