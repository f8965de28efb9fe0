/**
 * Runs a lab: its intro, then each step under an ora spinner, its table and its reading,
 * a pause (Enter continues, q quits), and at the end, whatever happened, every process it
 * started stopped and a results file written.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ora from 'ora';
import { renderTable } from '../format/table.js';
import { LAB_RESULT_SCHEMA, summarizeMachine, type JsonObject, type LabResult, type ResultTable, type StepRecord } from '../results/lab-result.js';
import { describeProblem, validateLabResult } from '../results/validate.js';
import { describeMachine } from './machine.js';
import type { LabContext, LabDefinition, LabRunOptions, Resource, StepOutcome, StepTable } from './types.js';

/** Thrown inside a lab when the user quits: unwinds the lab without counting as a failure. */
export class LabQuit extends Error {
  constructor() {
    super('quit');
    this.name = 'LabQuit';
  }
}

export interface LabRun {
  result: LabResult;
  /** Where the results file was written. */
  resultsPath: string;
}

export async function runLab(lab: LabDefinition, options: LabRunOptions): Promise<LabRun> {
  const out = options.out;
  const write = (text: string): void => void out.write(text);
  const started = Date.now();
  const controller = new AbortController();
  const resources: Resource[] = [];
  const steps: StepRecord[] = [];
  const findings: Record<string, unknown> = {};
  const settings = options.quick ? lab.settings.quick : lab.settings.full;
  const machine = describeMachine();
  const keys = options.interactive && !options.yes ? createKeyReader() : null;

  const stopResource = async (resource: Resource): Promise<void> => {
    const index = resources.indexOf(resource);
    if (index !== -1) resources.splice(index, 1);
    try {
      await resource.stop();
    } catch (error) {
      write(`  (could not stop ${resource.name}: ${error instanceof Error ? error.message : String(error)})\n`);
    }
  };

  // Ctrl-C while a step runs: quit cleanly, stopping what the lab started.
  const onSigint = (): void => controller.abort(new LabQuit());
  process.on('SIGINT', onSigint);

  const context: LabContext = {
    quick: options.quick,
    signal: controller.signal,
    findings,
    async step(title, body) {
      if (controller.signal.aborted) throw new LabQuit();
      const spinner = createSpinner(title, out);
      const stepStarted = Date.now();
      let outcome: StepOutcome;
      try {
        outcome = await body({ progress: (text) => spinner.update(`${title}: ${text}`), signal: controller.signal });
      } catch (error) {
        const quit = controller.signal.aborted || error instanceof LabQuit;
        spinner.fail(quit ? `${title}: stopped` : `${title}: failed`);
        steps.push({ title, status: 'failed', reason: quit ? 'quit' : errorText(error), durationMs: Date.now() - stepStarted });
        throw quit ? new LabQuit() : error;
      }
      spinner.succeed(title);
      const tables: StepTable[] = [...(outcome.table ? [outcome.table] : []), ...(outcome.tables ?? [])];
      for (const table of tables) write(`\n${renderTable(table.header, table.rows, { indent: 4 })}\n`);
      write(`\n${indent(outcome.reading, 4)}\n\n`);
      steps.push({
        title,
        status: 'done',
        reading: outcome.reading,
        tables: toJson<ResultTable[]>(tables),
        ...(outcome.charts === undefined || outcome.charts.length === 0 ? {} : { charts: outcome.charts }),
        ...(outcome.measurements === undefined ? {} : { measurements: toJson(outcome.measurements) }),
        durationMs: Date.now() - stepStarted,
      });
      if (keys !== null) {
        const key = await keys.next('  Enter: next step   q: quit ');
        if (key === 'quit') {
          controller.abort(new LabQuit());
          throw new LabQuit();
        }
      }
      return outcome;
    },
    skip(title, reason) {
      write(`  - ${title}: skipped: ${reason}\n\n`);
      steps.push({ title, status: 'skipped', reason, durationMs: 0 });
    },
    say(text) {
      write(`${indent(text, 2)}\n\n`);
    },
    track(resource) {
      resources.push(resource);
      return resource;
    },
    release: stopResource,
  };

  write(`\n${lab.number}. ${lab.title}   (layer: ${lab.layer}${options.quick ? ', quick' : ''})\n\n`);
  write(`${indent(lab.intro, 2)}\n\n`);
  write(`  machine: ${summarizeMachine(machine)}\n\n`);

  let outcome: LabResult['outcome'] = 'completed';
  let failure: string | undefined;
  try {
    await lab.run(context, settings);
  } catch (error) {
    if (error instanceof LabQuit || controller.signal.aborted) {
      outcome = 'quit';
      write('  Quit: stopping everything this lab started.\n');
    } else {
      outcome = 'failed';
      failure = errorText(error);
      write(`  The lab failed: ${failure}\n`);
    }
  } finally {
    keys?.close();
    process.off('SIGINT', onSigint);
    for (const resource of [...resources].reverse()) await stopResource(resource);
  }

  const result: LabResult = {
    schema: LAB_RESULT_SCHEMA,
    lab: { id: lab.id, number: lab.number, title: lab.title, layer: lab.layer },
    options: { quick: options.quick, yes: options.yes },
    settings: toJson(settings),
    machine,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    outcome,
    ...(failure === undefined ? {} : { error: failure }),
    steps,
    findings: toJson(findings),
  };
  const resultsPath = writeResult(result, options);
  // The report skips a file that does not match its schema: say so now, not when it is drawn.
  const check = validateLabResult(JSON.parse(JSON.stringify(result)));
  if (!check.ok) write(`  (this results file does not match ${LAB_RESULT_SCHEMA}, so the report will skip it: ${describeProblem(check)})\n`);
  write(`  Results: ${path.relative(process.cwd(), resultsPath) || resultsPath}\n`);
  return { result, resultsPath };
}

function writeResult(result: LabResult, options: LabRunOptions): string {
  const stamp = result.startedAt.replace(/[:.]/g, '-');
  const dir = path.resolve(options.resultsDir);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${result.lab.id}-${stamp}.json`);
  const text = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(file, text);
  if (options.jsonPath !== null) {
    mkdirSync(path.dirname(path.resolve(options.jsonPath)), { recursive: true });
    writeFileSync(options.jsonPath, text);
  }
  return file;
}

/** The value as it will read back from the results file: undefined left out, NaN as null. */
function toJson<T = JsonObject>(value: unknown): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text
    .split('\n')
    .map((line) => (line.length > 0 ? pad + line : line))
    .join('\n');
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface Spinner {
  update(text: string): void;
  succeed(text: string): void;
  fail(text: string): void;
}

/**
 * ora on a terminal; on anything else (a pipe, CI, a test) one plain line per step when it
 * ends, with no animation frames or colour codes in the output.
 */
function createSpinner(title: string, out: NodeJS.WritableStream): Spinner {
  // A terminal that reports 0 columns (a pty nobody sized) sends ora's line counting into an
  // endless clear loop, so it gets the plain lines too.
  const terminal = out as NodeJS.WriteStream;
  if (terminal.isTTY === true && terminal.columns > 0) {
    const spinner = ora({ text: title, stream: out as NodeJS.WriteStream, discardStdin: false }).start();
    return {
      update: (text) => void (spinner.text = text),
      succeed: (text) => void spinner.succeed(text),
      fail: (text) => void spinner.fail(text),
    };
  }
  return {
    update: () => {},
    succeed: (text) => void out.write(`* ${text}\n`),
    fail: (text) => void out.write(`x ${text}\n`),
  };
}

/**
 * Single keys from a TTY: Enter continues, q (or Ctrl-C) quits. Raw mode so a key needs no
 * Enter after it; restored on close so the shell is left as it was found.
 */
function createKeyReader(): { next(prompt: string): Promise<'continue' | 'quit'>; close(): void } {
  const stdin = process.stdin;
  return {
    next(prompt) {
      process.stdout.write(prompt);
      return new Promise((resolve) => {
        stdin.setRawMode(true);
        stdin.resume();
        const onData = (data: Buffer): void => {
          const key = data.toString('utf8');
          if (key === '\r' || key === '\n' || key === ' ') finish('continue');
          else if (key === 'q' || key === 'Q' || key === '\u0003' || key === '\u001b') finish('quit');
        };
        const finish = (answer: 'continue' | 'quit'): void => {
          stdin.off('data', onData);
          stdin.setRawMode(false);
          stdin.pause();
          process.stdout.write('\r\u001b[2K');
          resolve(answer);
        };
        stdin.on('data', onData);
      });
    },
    close() {
      if (stdin.isTTY && stdin.isRaw) stdin.setRawMode(false);
      stdin.pause();
    },
  };
}
