/**
 * Runs a lab: its intro, then each step under an ora spinner, its table and its reading,
 * a pause (Enter continues, q quits), and at the end, whatever happened, every process it
 * started stopped and a results file written.
 *
 * "Whatever happened" covers how a process is asked to end: q, Ctrl-C (SIGINT), SIGTERM (a
 * service manager, `kill`), SIGHUP (the terminal closed) and an error the lab did not catch.
 * Each stops what the lab tracked, last first, writes the results and ends the process; a
 * second signal ends it at once. SIGKILL cannot be caught: what it leaves is removed by the
 * next run (stale-network.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import ora from 'ora';
import { EXIT } from '../errors.js';
import { renderTable } from '../format/table.js';
import { LAB_RESULT_SCHEMA, summarizeMachine, type JsonObject, type LabResult, type ResultTable, type StepRecord } from '../results/lab-result.js';
import { describeProblem, validateLabResult } from '../results/validate.js';
import { hasCommand, isRoot } from './kit.js';
import { describeMachine } from './machine.js';
import { describeReaped, reapStaleNetwork, removeOwnNetwork } from './stale-network.js';
import type { LabContext, LabDefinition, LabRunOptions, Resource, StepOutcome, StepTable } from './types.js';

/** The signals that stop a lab the way q does. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * After a signal or a crash, how long the lab's own code may take to unwind (its finally
 * blocks, its step record) once what it tracked is stopped: a bound, so a lab stuck in a wait
 * it cannot abort does not hold the process.
 */
const UNWIND_GRACE_MS = 3_000;

/** How the run ended when the process itself was told to end (or broke): null otherwise. */
type Interruption = { kind: 'signal'; signal: StopSignal } | { kind: 'crash'; error: unknown };

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
  /**
   * Set when the process must end now, with this code: after a signal, 128 + its number (what
   * a shell reports for a process a signal ended); after an error the lab did not catch, 1
   * (Node's rule: a process is not safe to go on after an uncaught exception). What the lab
   * started is stopped, but its own code may still hold timers or sockets: exit, do not wait.
   */
  exitCode: number | null;
}

export async function runLab(lab: LabDefinition, options: LabRunOptions): Promise<LabRun> {
  const out = options.out;
  const write = (text: string): void => void out.write(text);
  const started = Date.now();
  const controller = new AbortController();
  const resources: Resource[] = [];
  /** Set once the lab's resources are all stopped: what it tracks later is stopped on the spot. */
  let closed = false;
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

  // A signal or an uncaught error: stop the lab now. Its steps see the abort and unwind, but
  // the runner does not wait for them before stopping what the lab tracked.
  let interruption: Interruption | null = null;
  let interrupt!: () => void;
  const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
  const onSignal = (signal: StopSignal): void => {
    if (interruption !== null) {
      // The second one: the person asked twice, so end without finishing the cleanup.
      write(`\n  ${signal} again: exiting now; what is left is removed by the next run.\n`);
      process.exit(signalExitCode(signal));
    }
    interruption = { kind: 'signal', signal };
    controller.abort(new LabQuit());
    interrupt();
  };
  const onCrash = (error: unknown): void => {
    if (interruption !== null) return;
    interruption = { kind: 'crash', error };
    controller.abort(new LabQuit());
    interrupt();
  };
  const signalHandlers = STOP_SIGNALS.map((signal) => [signal, () => onSignal(signal)] as const);
  for (const [signal, handler] of signalHandlers) process.on(signal, handler);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  // A function, not the variable: TypeScript keeps `interruption` narrowed to null across awaits.
  const readInterruption = (): Interruption | null => interruption;
  const removeHandlers = (): void => {
    for (const [signal, handler] of signalHandlers) process.off(signal, handler);
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  };

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
      // Tracked after the final cleanup (a step that went on after a signal): stopped at once.
      // Started synchronously: the process may exit right after this call returns.
      if (closed) void stopResource(resource);
      else resources.push(resource);
      return resource;
    },
    release: stopResource,
  };

  write(`\n${lab.number}. ${lab.title}   (layer: ${lab.layer}${options.quick ? ', quick' : ''})\n\n`);
  write(`${indent(lab.intro, 2)}\n\n`);
  write(`  machine: ${summarizeMachine(machine)}\n\n`);
  const reaped = await reapLeftovers();
  if (reaped !== '') write(`${indent(reaped, 2)}\n\n`);

  // Last tracked, first stopped; anything tracked while stopping (a step still unwinding) too.
  const stopAll = async (): Promise<void> => {
    for (let resource = resources.at(-1); resource !== undefined; resource = resources.at(-1)) await stopResource(resource);
  };

  const running = lab.run(context, settings).then(
    () => ({ error: null as unknown }),
    (error: unknown) => ({ error }),
  );
  const settled = await Promise.race([running, interrupted.then(() => null)]);
  keys?.close();
  const cut = readInterruption();
  let outcome: LabResult['outcome'] = 'completed';
  let failure: string | undefined;
  if (cut?.kind === 'signal') {
    outcome = 'quit';
    write(`\n  ${cut.signal}: stopping everything this lab started.\n`);
  } else if (cut?.kind === 'crash') {
    outcome = 'failed';
    failure = errorText(cut.error);
    write(`\n  The lab failed: ${failure}\n`);
  } else if (settled !== null && settled.error !== null) {
    if (settled.error instanceof LabQuit || controller.signal.aborted) {
      outcome = 'quit';
      write('  Quit: stopping everything this lab started.\n');
    } else {
      outcome = 'failed';
      failure = errorText(settled.error);
      write(`  The lab failed: ${failure}\n`);
    }
  }
  await stopAll();
  if (cut !== null) {
    // Let the lab's code unwind (its step record, its finally blocks), within a bound; then
    // stop what it tracked meanwhile.
    if (settled === null) await Promise.race([running, new Promise((resolve) => setTimeout(resolve, UNWIND_GRACE_MS).unref())]);
    await stopAll();
    closed = true;
    // A namespace whose `ip netns add` finished while the lab was being stopped was never tracked.
    if (namespacesPossible()) await removeOwnNetwork().catch(() => []);
  }
  closed = true;

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
    ...(cut?.kind === 'signal' ? { signal: cut.signal } : {}),
    steps,
    findings: toJson(findings),
  };
  const resultsPath = writeResult(result, options);
  // The report skips a file that does not match its schema: say so now, not when it is drawn.
  const check = validateLabResult(JSON.parse(JSON.stringify(result)));
  if (!check.ok) write(`  (this results file does not match ${LAB_RESULT_SCHEMA}, so the report will skip it: ${describeProblem(check)})\n`);
  write(`  Results: ${path.relative(process.cwd(), resultsPath) || resultsPath}\n`);
  // Only now: a signal that comes while stopping or writing still finds a handler.
  removeHandlers();
  const exitCode = cut === null ? null : cut.kind === 'signal' ? signalExitCode(cut.signal) : EXIT.FAILURE;
  return { result, resultsPath, exitCode };
}

/** 128 + the signal's number: how a shell reports a process that a signal ended (SIGTERM: 143). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 0);
}

function namespacesPossible(): boolean {
  return process.platform === 'linux' && isRoot() && hasCommand('ip');
}

/** Remove the namespaces and veths of socketlab runs that were killed; one line per removal. */
async function reapLeftovers(): Promise<string> {
  if (!namespacesPossible()) return '';
  try {
    return describeReaped(await reapStaleNetwork());
  } catch (error) {
    return `could not look for namespaces left by earlier runs: ${errorText(error)}`;
  }
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
      update: (text) => {
        spinner.text = text;
      },
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
