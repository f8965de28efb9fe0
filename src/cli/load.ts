/**
 * `socketlab load URL`: the CLI face of src/load. Flags → LoadOptions → runLoad; a k6-like
 * summary on stdout, live progress on stderr when it is a terminal, exit 99 when a
 * threshold fails (as k6 does).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EXIT, usageError } from '../errors.js';
import { booleanFlag, listFlag, parseDurationFlag, parseFlags, parseIntegerFlag, parseRateFlag, stringFlag, type OptionSpec } from './args.js';
import type { Command } from './command.js';
import { CLOSE_BY, LOAD_DEFAULTS, LOAD_LIMITS, type CloseBy } from '../load/constants.js';
import { renderK6Script } from '../load/k6-script.js';
import { parseStages, resolveLoadPlan } from '../load/plan.js';
import { runLoadPlan } from '../load/run.js';
import { startMonitorPanel } from '../metrics/monitor.js';
import { parseMonitorTargets } from '../metrics/targets.js';
import { describePlan, renderLoadSummary } from '../load/summary-text.js';
import { THRESHOLD_FORMS } from '../load/thresholds.js';
import type { LoadOptions, LoadProgress, LoadResult } from '../load/types.js';
import { formatNumber } from '../format/numbers.js';

const OPTIONS: OptionSpec = {
  vus: { type: 'string' },
  duration: { type: 'string' },
  stages: { type: 'string' },
  think: { type: 'string' },
  rate: { type: 'string' },
  'max-vus': { type: 'string' },
  hold: { type: 'string' },
  'connect-concurrency': { type: 'string' },
  'no-keepalive': { type: 'boolean' },
  'close-by': { type: 'string' },
  'connect-timeout': { type: 'string' },
  timeout: { type: 'string' },
  'graceful-stop': { type: 'string' },
  'local-address': { type: 'string', multiple: true },
  'path-template': { type: 'string' },
  method: { type: 'string' },
  header: { type: 'string', multiple: true },
  body: { type: 'string' },
  workers: { type: 'string' },
  threshold: { type: 'string', multiple: true },
  json: { type: 'string' },
  monitor: { type: 'string' },
  'k6-script': { type: 'string' },
  'dry-run': { type: 'boolean' },
};

const USAGE = `Usage: socketlab load URL [flags]

Drive an http:// server with a load of its own: raw node:net sockets, so connect time, time to
first byte and each kind of failure are seen apart. See docs/load.md.

Closed model (default; k6 constant-vus / ramping-vus):
  --vus N                  virtual users; each owns one connection and has one request in flight (default ${LOAD_DEFAULTS.VUS})
  --duration D             run length: 500ms, 30s, 2m; a bare number is seconds (default ${LOAD_DEFAULTS.DURATION_MS / 1000}s)
  --stages D:N,...         ramp linearly from 0 to each target: 10s:100,30s:1000,10s:0 (instead of --vus/--duration)
  --think D                pause after each response before the next request; bare number = ms (default 0)

Open model (wrk2 / k6 constant-arrival-rate; coordinated omission corrected):
  --rate R/s               request starts per second on a fixed schedule (1000/s, 1000, 600/m)
  --max-vus N              connections the schedule may use; a start that finds none free is
                           counted as dropped, not queued (default rate x 0.1 s, within 10..1000)

Hold model (C10K / C100K):
  --hold N                 open N connections, then hold them idle for --duration (the clock
                           starts once every connect has settled); no requests
  --connect-concurrency N  connects in flight at once while opening them (default ${LOAD_DEFAULTS.CONNECT_CONCURRENCY})

Connections:
  --no-keepalive           a new connection for every request
  --close-by client|server who closes first with --no-keepalive, i.e. which side keeps TIME_WAIT (default client)
  --connect-timeout D      give up on a connect after D; bare number = ms (default ${LOAD_DEFAULTS.CONNECT_TIMEOUT_MS / 1000}s)
  --timeout D              give up on a response D after its request was written; 0 = never (default ${LOAD_DEFAULTS.TIMEOUT_MS / 1000}s)
  --graceful-stop D        let in-flight requests finish this long after the end (default ${LOAD_DEFAULTS.GRACEFUL_STOP_MS / 1000}s)
  --local-address A,B,...  bind client sockets to these source addresses in turn (repeatable);
                           each address gives another ~28K ephemeral ports to one server port

Requests:
  --path-template T        replace the URL's path; {MIN..MAX} is a random integer per request: '/uuid/{1..1000}'
  --method M               (default GET)
  --header 'Name: value'   add a header (repeatable)
  --body TEXT              request body (Content-Length is set)

Run and output:
  --workers N              spread the VUs, the rate or the connections over N worker threads (default 1)
  --threshold EXPR         k6-style pass/fail rule (repeatable); exit 99 if any fails:
                             ${THRESHOLD_FORMS.replace(/\n {2}/g, '\n                             ')}
  --json FILE              write the full result (options, summary, per-second series, histograms)
  --monitor PID,:PORT,...  sample these processes and listening ports while the load runs: a live
                           panel on a terminal (instead of the progress line), and the series in --json
  --k6-script FILE         write the same scenario as a k6 script, then run as usual
  --dry-run                check the flags, print the plan, write --k6-script; do not send any load

Failure kinds: refused, reset, connect_timeout, response_timeout, eaddrnotavail, emfile,
closed_early, malformed, http_status (status >= 400; 3xx are listed but not failures), other.

Exit: 0 done, 2 bad flags, 99 a threshold failed.

Examples:
  socketlab load http://127.0.0.1:3000/age?birthdate=1993-05-01 --vus 100 --duration 30s
  socketlab load http://127.0.0.1:3000/ --path-template '/uuid/{1..1000}' --rate 2000/s --duration 1m --threshold 'p(90)<500'
  socketlab load http://127.0.0.1:3000/healthz --hold 50000 --local-address 127.0.0.2,127.0.0.3 --duration 1m
`;

function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw usageError(`--header must be "Name: value", got "${line}"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** Flags → LoadOptions; every value parser reports its own flag by name. */
export function optionsFromFlags(values: Record<string, string | boolean | string[] | undefined>, url: string): LoadOptions {
  const text = (name: string): string | undefined => stringFlag(values, name);
  const options: LoadOptions = { url };
  if (text('vus') !== undefined) options.vus = parseIntegerFlag('vus', text('vus'), 0, 1, LOAD_LIMITS.VUS);
  if (text('duration') !== undefined) options.durationMs = parseDurationFlag('duration', text('duration'), 0, 's');
  if (text('stages') !== undefined) options.stages = parseStages(text('stages') as string);
  if (text('think') !== undefined) options.thinkMs = parseDurationFlag('think', text('think'), 0, 'ms');
  if (text('rate') !== undefined) options.rate = parseRateFlag('rate', text('rate') as string);
  if (text('max-vus') !== undefined) options.maxVus = parseIntegerFlag('max-vus', text('max-vus'), 0, 1, LOAD_LIMITS.VUS);
  if (text('hold') !== undefined) options.connections = parseIntegerFlag('hold', text('hold'), 0, 1, LOAD_LIMITS.CONNECTIONS);
  if (text('connect-concurrency') !== undefined) {
    options.connectConcurrency = parseIntegerFlag('connect-concurrency', text('connect-concurrency'), 0, 1, LOAD_LIMITS.CONNECTIONS);
  }
  if (booleanFlag(values, 'no-keepalive')) options.keepAlive = false;
  const closeBy = text('close-by');
  if (closeBy !== undefined) {
    if (!Object.values(CLOSE_BY).includes(closeBy as CloseBy)) throw usageError(`--close-by must be client or server, got "${closeBy}"`);
    options.closeBy = closeBy as CloseBy;
  }
  if (text('connect-timeout') !== undefined) options.connectTimeoutMs = parseDurationFlag('connect-timeout', text('connect-timeout'), 0, 'ms');
  if (text('timeout') !== undefined) options.timeoutMs = parseDurationFlag('timeout', text('timeout'), 0, 'ms');
  if (text('graceful-stop') !== undefined) options.gracefulStopMs = parseDurationFlag('graceful-stop', text('graceful-stop'), 0, 'ms');
  const locals = listFlag(values, 'local-address').flatMap((list) =>
    list
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== ''),
  );
  if (locals.length > 0) options.localAddresses = locals;
  if (text('path-template') !== undefined) options.pathTemplate = text('path-template') as string;
  if (text('method') !== undefined) options.method = text('method') as string;
  const headers = listFlag(values, 'header');
  if (headers.length > 0) options.headers = parseHeaders(headers);
  if (text('body') !== undefined) options.body = text('body') as string;
  if (text('workers') !== undefined) options.workers = parseIntegerFlag('workers', text('workers'), 1, 1, LOAD_LIMITS.WORKERS);
  const thresholds = listFlag(values, 'threshold');
  if (thresholds.length > 0) options.thresholds = thresholds;
  return options;
}

async function writeOutput(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, text);
}

function progressLine(p: LoadProgress): string {
  const elapsed = `${Math.round(p.elapsedMs / 1000)}s/${formatNumber(p.durationMs / 1000)}s`;
  return `${elapsed}  vus ${formatNumber(p.vus)}  ${formatNumber(p.rps)} req/s  in flight ${formatNumber(p.inFlight)}  errors ${formatNumber(p.errors)}${p.dropped > 0 ? `  dropped ${formatNumber(p.dropped)}` : ''}`;
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseFlags('load', argv, OPTIONS, true);
  if (help) {
    process.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (positionals.length === 0) throw usageError('socketlab load needs a URL, e.g. socketlab load http://127.0.0.1:3000/healthz --vus 10 (see --help)');
  if (positionals.length > 1) throw usageError(`socketlab load takes one URL, got also "${positionals[1]}"`);
  const plan = resolveLoadPlan(optionsFromFlags(values, positionals[0] as string));

  const k6File = stringFlag(values, 'k6-script');
  if (k6File !== undefined) {
    await writeOutput(k6File, renderK6Script(plan));
    process.stderr.write(`k6 script written to ${k6File}\n`);
  }
  if (booleanFlag(values, 'dry-run')) {
    process.stdout.write(`socketlab load  ${plan.url}\n  ${describePlan(plan)}\n  dry run: nothing sent\n`);
    return EXIT.OK;
  }

  // Ctrl-C ends the run early with a summary of what was measured; a second one quits at once.
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  // Progress only for a person at a terminal: a pipe or a CI log gets the summary alone. A
  // terminal of width 0 (a pty nobody sized, as `script` makes) sends ora's line counting
  // into an endless clear loop, so it counts as no terminal.
  const monitorText = stringFlag(values, 'monitor');
  const monitor = monitorText === undefined ? null : startMonitorPanel(parseMonitorTargets('monitor', monitorText));
  const spinner =
    monitor === null && process.stderr.isTTY && process.stderr.columns > 0
      ? (await import('ora')).default({ text: `starting: ${describePlan(plan)}`, stream: process.stderr, discardStdin: false }).start()
      : null;
  let result: LoadResult;
  try {
    result = await runLoadPlan(plan, {
      signal: controller.signal,
      onProgress: spinner === null ? undefined : (p) => (spinner.text = progressLine(p)),
    });
  } finally {
    spinner?.stop();
    process.off('SIGINT', onSigint);
  }
  const series = await monitor?.stop();
  process.stdout.write(renderLoadSummary(result));
  const jsonFile = stringFlag(values, 'json');
  if (jsonFile !== undefined) {
    const output = series === undefined ? result : { ...result, monitor: series };
    await writeOutput(jsonFile, `${JSON.stringify(output, null, 2)}\n`);
    process.stderr.write(`result written to ${jsonFile}\n`);
  }
  return result.thresholdsPassed ? EXIT.OK : EXIT.THRESHOLD_FAILED;
}

export const command: Command = {
  name: 'load',
  summary: 'drive a server with closed-model VUs, an open-model rate or held idle connections; k6-like summary',
  usage: USAGE,
  run,
};
