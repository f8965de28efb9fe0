/**
 * `socketlab diagnose URL`: the CLI face of src/diagnose. Flags → DiagnoseOptions →
 * runDiagnose; the k6-style summary and the verdict on stdout, progress on stderr when it is
 * a terminal, `--json` and `--html` files. Exit 0 whenever a diagnosis was made, whatever
 * the layer: the verdict is the output, not a pass or a fail.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EXIT, isLabError, usageError } from '../errors.js';
import { DIAGNOSE_DEFAULTS, DIAGNOSE_LIMITS, LAYER } from '../diagnose/constants.js';
import { renderDiagnoseHtml } from '../diagnose/html.js';
import { runDiagnose, type DiagnoseProgress } from '../diagnose/run.js';
import { renderDiagnoseSummary } from '../diagnose/summary-text.js';
import type { DiagnoseOptions, DiagnoseResult } from '../diagnose/types.js';
import { parseThreshold } from '../load/thresholds.js';
import { LOAD_LIMITS } from '../load/constants.js';
import { formatNumber } from '../format/numbers.js';
import { booleanFlag, listFlag, parseDurationFlag, parseFlags, parseIntegerFlag, stringFlag, type OptionSpec } from './args.js';
import type { Command } from './command.js';

const OPTIONS: OptionSpec = {
  pid: { type: 'string', multiple: true },
  'path-template': { type: 'string' },
  'max-vus': { type: 'string' },
  'step-duration': { type: 'string' },
  rule: { type: 'string', multiple: true },
  json: { type: 'string' },
  html: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  'no-keepalive': { type: 'boolean' },
  workers: { type: 'string' },
  timeout: { type: 'string' },
  'no-confirm': { type: 'boolean' },
};

const USAGE = `Usage: socketlab diagnose URL [flags]

Ramp closed-model virtual users against your server (1, 4, 16, 64, ... up to --max-vus),
watch every layer at each step, and name the first one that gave way, with its evidence,
what was ruled out and the lever that moves it. See docs/diagnose.md.

The ramp stops at the first of: throughput flat (a step at most 5% above the best before),
the --rule broken, 1% of requests failing, the generator at its own limit (CPU,
descriptors), or --max-vus. A shorter, finer sweep then places the knee.

Target:
  --pid PID                a process to watch (repeatable): the server, its workers, or a
                           Postgres postmaster (its backends are followed). Without it the
                           server's CPU, threads, descriptors and memory are not seen.
  --path-template T        replace the URL's path; {MIN..MAX} is a random integer per request: '/uuid/{1..1000}'
  --allow-remote           allow a target that is not on loopback (a ramp is a load test:
                           only for a server you may load); only the client side is watched

Ramp:
  --max-vus N              most users to try (default ${formatNumber(DIAGNOSE_DEFAULTS.MAX_VUS)})
  --step-duration D        length of each ramp step: 1s, 5s, 30s (default ${DIAGNOSE_DEFAULTS.STEP_DURATION_MS / 1000}s)
  --rule EXPR              a k6-style rule that ends the ramp when broken (repeatable): 'p(90)<500',
                           'failures<0.1%' (same forms as socketlab load --threshold)
  --no-keepalive           a new connection for every request (the client closes first)
  --workers N              generator threads (default 1)
  --timeout D              give up on a response after D; bare number = ms (default ${DIAGNOSE_DEFAULTS.TIMEOUT_MS / 1000}s)
  --no-confirm             skip the finer sweep around the knee

Output:
  --json FILE              every step's measurements, bottleneck.layer, bottleneck.evidence[], ruledOut[]
  --html FILE              the ramp's charts and the verdict on one page

Layers: ${Object.values(LAYER).join(', ')}.

Exit: 0 a diagnosis was made (whatever the layer), 1 nothing answered or the run failed, 2 bad flags.

Examples:
  socketlab diagnose 'http://127.0.0.1:3000/age?birthdate=1993-05-01' --pid 4321
  socketlab diagnose http://127.0.0.1:3000/ --path-template '/uuid/{1..1000}' --pid 4321 --pid 4400 --rule 'p(90)<500' --html diagnose.html
`;

function parsePids(values: string[]): number[] {
  const pids: number[] = [];
  for (const text of values.flatMap((v) => v.split(',')).map((v) => v.trim())) {
    if (!/^\d{1,7}$/.test(text) || Number(text) < 1) throw usageError(`--pid takes a process ID such as 4321, got "${text}"`);
    pids.push(Number(text));
  }
  if (pids.length > DIAGNOSE_LIMITS.PIDS) throw usageError(`--pid: at most ${DIAGNOSE_LIMITS.PIDS} processes, got ${pids.length}`);
  return [...new Set(pids)];
}

function parseRules(values: string[]): string[] {
  for (const rule of values) {
    try {
      parseThreshold(rule);
    } catch (error) {
      // The load command's message lists every accepted form over several lines: one line here.
      const why = isLabError(error) ? (error.message.split('\n')[0] ?? '').replace(/^--threshold "[^"]*": /, '').replace(/\. Accepted forms:$/, '') : String(error);
      throw usageError(`--rule "${rule}": ${why} (see socketlab diagnose --help)`);
    }
  }
  return values;
}

/** Flags → DiagnoseOptions; each value parser names its own flag. */
export function diagnoseOptionsFromFlags(values: Record<string, string | boolean | string[] | undefined>, url: string): DiagnoseOptions {
  const text = (name: string): string | undefined => stringFlag(values, name);
  const stepDurationMs = parseDurationFlag('step-duration', text('step-duration'), DIAGNOSE_DEFAULTS.STEP_DURATION_MS, 's');
  if (stepDurationMs < DIAGNOSE_LIMITS.STEP_MIN_MS || stepDurationMs > DIAGNOSE_LIMITS.STEP_MAX_MS) {
    throw usageError(`--step-duration must be between ${DIAGNOSE_LIMITS.STEP_MIN_MS} ms and ${DIAGNOSE_LIMITS.STEP_MAX_MS / 60_000} min, got "${text('step-duration')}"`);
  }
  const timeoutMs = parseDurationFlag('timeout', text('timeout'), DIAGNOSE_DEFAULTS.TIMEOUT_MS, 'ms');
  if (timeoutMs <= 0) throw usageError('--timeout must be above 0: a ramp needs every step to end');
  return {
    url,
    pids: parsePids(listFlag(values, 'pid')),
    ...(text('path-template') === undefined ? {} : { pathTemplate: text('path-template') as string }),
    maxVus: parseIntegerFlag('max-vus', text('max-vus'), DIAGNOSE_DEFAULTS.MAX_VUS, 1, DIAGNOSE_LIMITS.MAX_VUS),
    stepDurationMs,
    rules: parseRules(listFlag(values, 'rule')),
    allowRemote: booleanFlag(values, 'allow-remote'),
    keepAlive: !booleanFlag(values, 'no-keepalive'),
    workers: parseIntegerFlag('workers', text('workers'), 1, 1, LOAD_LIMITS.WORKERS),
    timeoutMs,
    confirm: !booleanFlag(values, 'no-confirm'),
  };
}

async function writeOutput(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, content);
}

function progressLine(p: DiagnoseProgress): string {
  return `${p.phase} step ${p.step}/${p.steps}: ${formatNumber(p.vus)} VUs, ${Math.round(p.elapsedMs / 1000)} s of ${formatNumber(p.durationMs / 1000)} s, ${formatNumber(Math.round(p.rps))} req/s, ${formatNumber(p.errors)} errors`;
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags('diagnose', argv, OPTIONS, true);
  if (help) {
    process.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length === 0) throw usageError('socketlab diagnose needs a URL, e.g. socketlab diagnose http://127.0.0.1:3000/healthz --pid 4321 (see --help)');
  if (positionals.length > 1) throw usageError(`socketlab diagnose takes one URL, got also "${positionals[1]}"`);
  const options = diagnoseOptionsFromFlags(values, positionals[0] as string);

  // Ctrl-C ends the current step and gives the verdict on what was measured; a second one quits.
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  // Progress only for a person at a terminal (and not a 0-column pty, see cli/load.ts).
  const spinner =
    process.stderr.isTTY && process.stderr.columns > 0
      ? (await import('ora')).default({ text: `looking at ${options.url}`, stream: process.stderr, discardStdin: false }).start()
      : null;
  let result: DiagnoseResult;
  try {
    result = await runDiagnose(options, {
      signal: controller.signal,
      onStart: (_context, notes) => {
        if (spinner !== null) for (const note of notes) spinner.info(note).start();
      },
      onProgress: spinner === null ? undefined : (p) => (spinner.text = progressLine(p)),
    });
  } finally {
    spinner?.stop();
    process.off('SIGINT', onSigint);
  }
  process.stdout.write(renderDiagnoseSummary(result));
  const jsonFile = stringFlag(values, 'json');
  if (jsonFile !== undefined) {
    await writeOutput(jsonFile, `${JSON.stringify(result, null, 2)}\n`);
    process.stderr.write(`result written to ${jsonFile}\n`);
  }
  const htmlFile = stringFlag(values, 'html');
  if (htmlFile !== undefined) {
    await writeOutput(htmlFile, renderDiagnoseHtml(result));
    process.stderr.write(`page written to ${htmlFile}\n`);
  }
  return EXIT.OK;
}

export const command: Command = {
  name: 'diagnose',
  summary: 'ramp load on your own server and name the first layer that gives way, with its evidence',
  usage: USAGE,
  run,
};
