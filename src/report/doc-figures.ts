/**
 * The figures in docs/*.md, rendered as markdown from committed outputs: the bench programs'
 * `--json` files (docs/results/bench/NAME.json, src/results/bench-result.ts) and the labs'
 * reference run (docs/results/data, lab-result/2). `socketlab docs` finds the marked regions
 * (`<!-- figures:NAME ARGS -->` … `<!-- /figures:NAME -->`) and puts these in them; nothing
 * here reads or writes a file, so a test can feed any JSON and read the markdown back.
 *
 * A figure the JSON lacks is an error naming the file and the field, never "undefined" or a
 * guess: a doc built from an incomplete run would cite what was not measured.
 */
import { LAB_ERR, LabError } from '../errors.js';
import { formatCell, type Cell } from '../format/table.js';
import { formatNumber } from '../format/numbers.js';
import type { BenchResult } from '../results/bench-result.js';
import { summarizeMachine, type LabResult, type MachineInfo } from '../results/lab-result.js';
import { seedTable, SEED_RUNS, type MeasuredRow, type SeedRun } from './seed.js';

/** Where each bench writes the JSON the docs are built from, relative to the checkout. */
export const BENCH_JSON_DIR = 'docs/results/bench';
/** The labs' reference run, relative to the checkout. */
export const LAB_DATA_DIR = 'docs/results/data';

export function benchJsonPath(bench: string): string {
  return `${BENCH_JSON_DIR}/${bench}.json`;
}

/** The command that makes a bench's JSON, as a person would type it. */
export function benchCommand(bench: string): string {
  return `npx socketlab bench ${bench} -- --json ${benchJsonPath(bench)}`;
}

/** What a renderer may read: a getter throws a LabError naming the missing file and its command. */
export interface FigureSources {
  bench(name: string): BenchResult;
  lab(id: string): LabResult;
}

function figureError(message: string): LabError {
  return new LabError(LAB_ERR.DOCS_FIGURES, message);
}

// ── Reading fields: a missing figure is an error ────────────────────────────────────────

/** A JSON value and where it came from ("docs/results/bench/serve.json: keepAlive.summary[0]"). */
export class Field {
  constructor(
    readonly source: string,
    readonly path: string,
    readonly value: unknown,
  ) {}

  get(path: string): Field {
    if (path === '') return this;
    let value: unknown = this.value;
    for (const part of path.split('.')) {
      value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    }
    return new Field(this.source, this.path === '' ? path : `${this.path}.${path}`, value);
  }

  private fail(wanted: string): never {
    const found = this.value === undefined ? 'missing' : `${JSON.stringify(this.value)?.slice(0, 40)}, not ${wanted}`;
    throw figureError(`${this.source}: field "${this.path}" is ${found}: run the program again to rewrite the file`);
  }

  num(path: string): number {
    const field = this.get(path);
    if (typeof field.value !== 'number' || !Number.isFinite(field.value)) field.fail('a number');
    return field.value as number;
  }

  /** A number, or null where the program wrote null (a figure it could not measure). */
  numOrNull(path: string): number | null {
    const field = this.get(path);
    if (field.value === null) return null;
    return this.num(path);
  }

  text(path: string): string {
    const field = this.get(path);
    if (typeof field.value !== 'string') field.fail('text');
    return field.value as string;
  }

  bool(path: string): boolean {
    const field = this.get(path);
    if (typeof field.value !== 'boolean') field.fail('true or false');
    return field.value as boolean;
  }

  list(path: string): Field[] {
    const field = this.get(path);
    if (!Array.isArray(field.value)) field.fail('a list');
    return (field.value as unknown[]).map((item, i) => new Field(this.source, `${field.path}[${i}]`, item));
  }

  /** A stored table: {header: string[], rows: cells[][]}. */
  table(path: string): { header: string[]; rows: Cell[][] } {
    const field = this.get(path);
    const header = field.list('header').map((h, i) => field.text(`header.${i}`) && h.value);
    const rows = field.list('rows').map((row) => {
      if (!Array.isArray(row.value)) row.fail('a row');
      return (row.value as unknown[]).map((cell): Cell => {
        if (cell === null || typeof cell === 'string' || (typeof cell === 'number' && Number.isFinite(cell))) return cell;
        return row.fail('a row of numbers, text or null');
      });
    });
    return { header: header as string[], rows };
  }
}

function benchField(result: BenchResult): Field {
  return new Field(benchJsonPath(result.bench), '', result);
}

// ── Markdown ─────────────────────────────────────────────────────────────────────────────

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A markdown table; a column of numbers (or dashes) is right-aligned. */
export function markdownTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const numeric = header.map(
    (_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number' || row[i] === null || row[i] === undefined) && rows.some((row) => typeof row[i] === 'number'),
  );
  return [
    `| ${header.map(escapeCell).join(' | ')} |`,
    `|${numeric.map((n) => (n ? '---:' : '---')).join('|')}|`,
    ...rows.map((row) => `| ${header.map((_, i) => escapeCell(formatCell(row[i]))).join(' | ')} |`),
  ].join('\n');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** "92,868 (84,381–97,102)": the median and the range of the rounds, or the value alone. */
function spreadText(values: readonly number[], round: (n: number) => number = (n) => n): string {
  if (values.length === 0) return '-';
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  const m = formatNumber(round(median(values)));
  return lo === hi ? m : `${m} (${formatNumber(round(lo))}–${formatNumber(round(hi))})`;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
const plural = (n: number, word: string): string => `${formatNumber(n)} ${word}${n === 1 ? '' : 's'}`;
/** A ratio in a sentence as the bench programs print it: two decimals ("0.91×"). */
const times = (n: number): string => `${n.toFixed(2)}×`;

function describeMachine(machine: Field): string {
  const m = machine.value as MachineInfo;
  // Every field summarizeMachine reads, checked, so a partial machine is an error, not "undefined".
  for (const key of ['cores', 'memoryBytes']) machine.num(key);
  for (const key of ['cpuModel', 'kernel', 'node']) machine.text(key);
  return summarizeMachine(m);
}

/** The line under every generated table: the file, the command, the machine, the load. */
export function describeBenchRun(result: BenchResult): string {
  const f = benchField(result);
  const args = f.list('args').map((a, i) => f.text(`args.${i}`) && (a.value as string));
  const started = f.text('startedAt');
  const load = (which: 'start' | 'end'): string => formatNumber(f.list(`loadAverage.${which}`).map((_, i) => f.num(`loadAverage.${which}.${i}`))[0] as number);
  const versions = Object.entries(f.get('versions').value as Record<string, unknown>)
    .filter(([key, value]) => key !== 'node' && typeof value === 'string')
    .map(([key, value]) => `${key} ${String(value)}`);
  const quick = f.bool('quick');
  return (
    `*From \`${benchJsonPath(result.bench)}\`: \`npx socketlab bench ${result.bench}${args.length === 0 ? '' : ` -- ${args.join(' ')}`}\` on ${describeMachine(f.get('machine'))}` +
    `${versions.length === 0 ? '' : `, ${versions.join(', ')}`}, ${started.slice(0, 10)}; load average ${load('start')} at the start, ${load('end')} at the end.` +
    `${quick ? " **A short run** (shorter or fewer rounds than the program's defaults): read the shape, not the figures." : ''}*`
  );
}

// ── The benches ──────────────────────────────────────────────────────────────────────────

function renderParser(sources: FigureSources): string {
  const result = sources.bench('parser');
  const f = benchField(result);
  const rows = f.list('parse').map((row) => [row.text('request'), row.num('chunks'), row.text('parser'), row.num('nsPerRequest'), row.numOrNull('vsLlhttp')]);
  const writes = f.get('writes');
  const rounds = writes.list('rounds').map((r) => round2(r.num('bufferNs') / r.num('stringNs')));
  return [
    markdownTable(['request', 'chunks', 'parser', 'ns/request', 'llhttp ns ÷ this'], rows),
    '',
    `Writing the response as one string: ${formatNumber(writes.num('stringNs'))} ns against ${formatNumber(writes.num('bufferNs'))} ns as a Buffer, ` +
      `${times(writes.num('stringSpeedOverBuffer'))} the speed (median of ${rounds.length} alternating rounds: ${rounds.map(formatNumber).join(', ')}).`,
    '',
    describeBenchRun(result),
  ].join('\n');
}

function serveTable(section: Field): string {
  const rounds = section.list('rounds');
  const rows = section.list('summary').map((row) => {
    const server = row.text('server');
    const mine = rounds.filter((r) => r.text('server') === server);
    return [
      server,
      spreadText(
        mine.map((r) => r.num('rps')),
        Math.round,
      ),
      spreadText(
        mine.map((r) => r.num('cpuUsPerRequest')),
        round2,
      ),
      row.num('latencyAvgMs'),
      row.num('errors'),
      row.num('baseOverThisRps'),
      row.num('thisOverBaseCpu'),
    ];
  });
  const base = section.list('summary')[0]?.text('server') ?? '';
  return markdownTable(['server', 'req/s, median (min–max)', 'µs CPU/request', 'avg latency ms', 'errors', `${base} ÷ this, req/s`, 'this ÷ ' + base + ', CPU/request'], rows);
}

function renderServe(sources: FigureSources): string {
  const result = sources.bench('serve');
  const f = benchField(result);
  const cpu = (server: string): number => {
    const row = f.list('keepAlive.summary').find((r) => r.text('server') === server);
    if (row === undefined) throw figureError(`${benchJsonPath('serve')}: no keep-alive row for "${server}": run the program again`);
    return row.num('cpuUsPerRequest');
  };
  const r = f.get('ratios');
  const vsNaive = r.num('socketlabOverNaiveRps');
  const target = r.num('socketlabOverNaiveTarget');
  return [
    `GET ${f.text('path')}, wrk -t1 -c${f.num('connections')} for ${f.num('durationS')} s, ${f.num('rounds')} rounds interleaved:`,
    '',
    serveTable(f.get('keepAlive')),
    '',
    `socketlab serve is **${times(vsNaive)} the naive server** by requests per second (target ≥ ${times(target)}: ${vsNaive >= target ? 'met' : '**not met**'}) ` +
      `and ${times(r.num('naiveOverSocketlabCpu'))} by CPU per request (the naive server's µs ÷ socketlab's); against node:http, ${times(r.num('socketlabOverNodeHttpRps'))} by requests per second and ` +
      `${times(r.num('nodeHttpOverSocketlabCpu'))} by CPU per request. The CPU per request (median, \`/proc/PID/stat\` over each measured run) was ` +
      `${formatNumber(cpu('naive node:net'))} µs for the naive server, ${formatNumber(cpu('socketlab serve'))} µs for socketlab and ${formatNumber(cpu('node:http'))} µs for node:http.`,
    '',
    describeBenchRun(result),
  ].join('\n');
}

function renderServeClose(sources: FigureSources): string {
  const result = sources.bench('serve');
  const close = benchField(result).get('close');
  if (close.value === null) return `*Not in this run (\`--no-close\`): \`${benchCommand('serve')}\` measures it.*`;
  return [serveTable(close), '', describeBenchRun(result)].join('\n');
}

function renderLoad(sources: FigureSources): string {
  const result = sources.bench('load');
  const f = benchField(result);
  const runs = f.list('runs');
  const rows = f.list('best').map((row) => {
    const server = row.text('server');
    const tool = row.text('tool');
    const key = tool.replace(/^socketlab --workers (\d)$/, 'socketlab-w$1');
    return [
      server,
      tool,
      row.num('rps'),
      runs
        .filter((r) => r.text('server') === server && r.text('tool') === key)
        .map((r) => formatNumber(r.num('rps')))
        .join(', '),
    ];
  });
  const targets = f.list('targets').map((t) => [t.text('target'), t.numOrNull('ratio'), t.text('wanted'), t.text('verdict')]);
  return [
    `${f.num('connections')} connections, ${f.num('durationS')} s per run, best of ${plural(f.num('rounds'), 'round')}:`,
    '',
    markdownTable(['server', 'tool', 'best req/s', 'every round'], rows),
    '',
    markdownTable(['target', 'ratio', 'wanted', 'verdict'], targets),
    '',
    describeBenchRun(result),
  ].join('\n');
}

function renderDb(sources: FigureSources): string {
  const result = sources.bench('db');
  const f = benchField(result);
  const rows = f.list('rows').map((row) => {
    // A round whose figure could not be read (pgbench printed no tps) is null in the JSON: a dash.
    const runs = row.get('runs').value === undefined ? [] : row.list('runs').map((r) => r.numOrNull(''));
    const pool = row.get('pool').value;
    return [
      row.text('name'),
      row.numOrNull('perSec') === null ? null : Math.round(row.num('perSec')),
      row.text('unit'),
      row.numOrNull('p50Ms'),
      row.numOrNull('p99Ms'),
      row.numOrNull('errors'),
      row.get('cpuUs').value === undefined ? null : row.numOrNull('cpuUs'),
      pool === null || pool === undefined ? '-' : `${formatNumber(row.num('pool.waitAvgMs'))} / ${formatNumber(row.num('pool.queryAvgMs'))}`,
      runs.length === 0 ? '-' : runs.map((n) => (n === null ? '-' : formatNumber(n))).join(', '),
    ];
  });
  const r = f.get('ratios');
  const ratio = (key: string): string => {
    const value = r.numOrNull(key);
    return value === null ? 'n/a' : times(value);
  };
  const targets = f.get('targets');
  return [
    `${f.num('connections')} clients or keep-alive connections, pool ${f.num('poolSize')}, batch ${f.num('batchSize')}, ${f.num('durationS')} s runs, ${f.num('rounds')} interleaved rounds (medians):`,
    '',
    markdownTable(['what', 'per second', 'unit', 'p50 ms', 'p99 ms', 'errors', 'µs CPU each', 'pool wait / query avg ms', 'every round'], rows),
    '',
    `- socketlab serve --pool ${f.num('poolSize')} ÷ node:http + pg.native: ${ratio('serveOverNodeHttp')} (target ≥ ${times(targets.num('VS_NODE_HTTP'))}); ` +
      `÷ pgbench -M prepared: ${ratio('serveOverPgbenchPrepared')} (target ≥ ${times(targets.num('VS_PGBENCH'))}); ÷ pgbench -M simple: ${ratio('serveOverPgbenchSimple')}`,
    `- with --pool-batch ${f.num('batchSize')}: ÷ node:http + pg.native ${ratio('serveBatchOverNodeHttp')}, ÷ pgbench -M prepared ${ratio('serveBatchOverPgbenchPrepared')}`,
    `- in-process, no HTTP: socketlab's pool ÷ pg.native's Pool ${ratio('poolOverPgNativeInProcess')}; batch ÷ one statement per lookup ${ratio('batchOverSingleInProcess')}`,
    `- node:http + pg.native ÷ pgbench -M prepared: ${ratio('nodeHttpOverPgbenchPrepared')}`,
    '',
    describeBenchRun(result),
  ].join('\n');
}

function renderModels(sources: FigureSources): string {
  const result = sources.bench('models');
  const f = benchField(result);
  const grid = f.table('grid');
  const ratios = f.table('ratios');
  const lines = [
    `${f.list('cells').length} cells in ${formatNumber(f.num('elapsedS'))} s, ${formatNumber(f.num('options.measureSeconds'))} s windows, ` +
      `${formatNumber(f.num('options.warmupDeadlineMs') / 1000)} s warm-up deadline, ${f.num('options.rounds')} round(s) a cell:`,
    '',
    markdownTable(grid.header, grid.rows),
    '',
    'Each model against the event loop (B), same run:',
    '',
    markdownTable(ratios.header, ratios.rows),
  ];
  const slope = f.get('threadRssSlope');
  const spawn = f.list('threadSpawn');
  if (slope.value !== null || spawn.length > 0) {
    lines.push('', 'Model A, per thread (a Node worker is a whole V8 isolate):', '');
    if (slope.value !== null)
      lines.push(
        `- RSS per connection thread: ${formatNumber(Math.round((slope.num('bytesPerThread') / 2 ** 20) * 10) / 10)} MiB (slope from ${slope.num('from')} to ${slope.num('to')} connections on /${slope.text('route')})`,
      );
    for (const s of spawn)
      lines.push(
        `- start-up with ${s.num('connections')} starting at once (/${s.text('route')}): p50 ${formatNumber(s.num('p50Ms'))} ms, p99 ${formatNumber(s.num('p99Ms'))} ms over ${s.num('count')} threads`,
      );
  }
  const giveWay = f.list('giveWay').map((g) => g.value);
  lines.push('');
  if (f.num('options.rounds') < 2) lines.push('Where each model gives way is not judged from one run a cell (`--rounds 3` judges it).');
  else {
    lines.push(`Where each model gives way (${f.num('options.rounds')} interleaved runs a cell, \`findGiveWay\`):`, '');
    for (let i = 0; i < giveWay.length; i++) lines.push(`- ${f.text(`giveWay.${i}`)}`);
  }
  lines.push('', describeBenchRun(result));
  return lines.join('\n');
}

function renderMetricsReadings(sources: FigureSources): string {
  const result = sources.bench('metrics-overhead');
  const f = benchField(result);
  const rows = f.list('readings').map((r) => [r.text('reading'), r.num('us'), r.text('context')]);
  return [markdownTable(['reading', 'µs (median)', 'context'], rows), '', describeBenchRun(result)].join('\n');
}

function renderMetricsOverhead(sources: FigureSources): string {
  const result = sources.bench('metrics-overhead');
  const f = benchField(result);
  const target = f.num('targetPercent');
  const after = formatNumber(f.num('steadyAfterMs') / 1000);
  const rows = f
    .list('runs')
    .map((r) => [
      r.text('run'),
      r.num('samples'),
      r.num('samplerCpuMs'),
      r.num('percentOfOneCore'),
      r.numOrNull('percentAfterWarmup'),
      r.num('p50SampleUs'),
      r.bool('underTarget') ? 'under' : '**over**',
    ]);
  return [
    `10 samples/s for ${formatNumber(f.num('durationMs') / 1000)} s, ${formatNumber(f.num('socketsInTable'))} sockets in the TCP table, target under ${formatNumber(target)}% of one core:`,
    '',
    markdownTable(['run', 'samples', 'sampler CPU ms', '% of one core', `% after the first ${after} s`, 'median sample µs', `< ${formatNumber(target)}%`], rows),
    '',
    `Starting the worker (isolate + modules) cost ${formatNumber(f.num('workerStartupMs'))} ms of CPU once, outside the percentage.`,
    '',
    describeBenchRun(result),
  ].join('\n');
}

function renderProfile(sources: FigureSources): string {
  const result = sources.bench('profile');
  const f = benchField(result);
  const names = ['socketlab serve', 'naive node:net'];
  const categories = f.list('categories').map((_, i) => f.text(`categories.${i}`));
  const means = f.get('meanUsPerRequest');
  const value = (name: string, category: string): number => {
    const row = new Field(means.source, `${means.path}.${name}`, (means.value as Record<string, unknown> | null)?.[name]);
    return row.num(category);
  };
  const rows = [...categories, 'total'].map((c) => [
    c === 'total' ? 'total (CPU per request)' : c,
    ...names.map((n) => value(n, c)),
    round2(value(names[0] as string, c) - value(names[1] as string, c)),
  ]);
  return [
    `GET ${f.text('path')}, wrk -t1 -c100 for ${f.num('durationS')} s, V8 --cpu-prof every ${f.num('sampleIntervalUs')} µs, each server twice (A B B A), µs per request:`,
    '',
    markdownTable(['µs per request', ...names, 'socketlab − naive'], rows),
    '',
    describeBenchRun(result),
  ].join('\n');
}

function renderSeed(sources: FigureSources): string {
  const result = sources.bench('seed');
  const f = benchField(result);
  const runs = f.list('runs').map((r) => {
    r.text('id');
    return r.value as SeedRun;
  });
  const measured = f.list('rows').map((r) => {
    r.text('runId');
    r.list('rounds');
    return r.value as MeasuredRow;
  });
  const table = seedTable(measured, runs);
  const shapes = f.list('shapes').map((s) => `- ${s.text('text')}`);
  const readings = f.list('poolReadings').map((_, i) => `- ${f.text(`poolReadings.${i}`)}`);
  return [
    `Here: the median of ${f.num('rounds')} rounds of ${formatNumber(f.num('durationMs') / 1000)} s; max is the longest of any round, failed all rounds added up. A dash: no figure.`,
    '',
    markdownTable(table.header, table.rows),
    ...(shapes.length + readings.length === 0 ? [] : ['', 'Shapes, each computed from both sides:', '', ...shapes, ...readings]),
    '',
    describeBenchRun(result),
  ].join('\n');
}

/** The post's side alone: src/report/post-figures.ts, checked against ../shared/seed/figures.json. */
function renderSeedPost(): string {
  const table = seedTable(null, SEED_RUNS);
  return [
    markdownTable(table.header, table.rows),
    '',
    "*From `src/report/post-figures.ts` (the post's tables, checked against `../shared/seed/figures.json` by `test/report/post-figures.test.ts`); `npx socketlab bench seed -- --reference` prints the same.*",
  ].join('\n');
}

/** A table one lab step printed, from the reference run: `lab-table LAB STEP TABLE` (both from 1). */
function renderLabTable(args: readonly string[], sources: FigureSources): string {
  const [id, stepText, tableText] = args;
  const step = Number(stepText);
  const index = Number(tableText ?? '1');
  if (id === undefined || !Number.isInteger(step) || step < 1 || !Number.isInteger(index) || index < 1)
    throw figureError(`figures:lab-table needs a lab id, a step number and a table number (from 1), e.g. "lab-table knee 1 1"; got "${args.join(' ')}"`);
  const result = sources.lab(id);
  const source = `${LAB_DATA_DIR}/${id}-*.json`;
  const record = result.steps[step - 1];
  if (record === undefined) throw figureError(`${source}: the run has ${result.steps.length} steps, no step ${step}`);
  const table = record.tables?.[index - 1];
  if (table === undefined) throw figureError(`${source}: step ${step} ("${record.title}") has ${record.tables?.length ?? 0} tables, no table ${index}`);
  const machine = new Field(source, 'machine', result.machine);
  return [
    markdownTable(table.header, table.rows),
    '',
    `*From the reference run of lab ${result.lab.number} (\`socketlab lab ${id}${result.options.quick ? ' --quick' : ''}\`, in \`${LAB_DATA_DIR}/\`), step ${step}: ${record.title}; ` +
      `${describeMachine(machine)}, ${result.startedAt.slice(0, 10)}.${result.options.quick ? ' **A quick run**: read the shape, not the figures.' : ''}*`,
  ].join('\n');
}

// ── The summary of every bench ───────────────────────────────────────────────────────────

function verdict(met: boolean): string {
  return met ? 'met' : '**not met**';
}

function renderBenchSummary(sources: FigureSources): string {
  const rows: Cell[][] = [];
  {
    const f = benchField(sources.bench('parser'));
    const small = f.list('parse').find((r) => r.text('parser') === 'socketlab' && r.num('chunks') === 1);
    if (small === undefined) throw figureError(`${benchJsonPath('parser')}: no socketlab row for a whole request: run the program again`);
    rows.push([
      '`parser`',
      'well under 1 µs for a small GET; llhttp for scale',
      `${formatNumber(small.num('nsPerRequest'))} ns, ${small.numOrNull('vsLlhttp') === null ? 'no llhttp' : `${times(small.num('vsLlhttp'))} llhttp`}`,
      verdict(small.num('nsPerRequest') < 1000),
    ]);
  }
  {
    const r = benchField(sources.bench('serve')).get('ratios');
    rows.push([
      '`serve`',
      `≥ ${times(r.num('socketlabOverNaiveTarget'))} the naive server (issue 16)`,
      `${times(r.num('socketlabOverNaiveRps'))} naive (req/s), ${times(r.num('socketlabOverNodeHttpRps'))} node:http`,
      verdict(r.num('socketlabOverNaiveRps') >= r.num('socketlabOverNaiveTarget')),
    ]);
  }
  {
    const targets = benchField(sources.bench('load')).list('targets');
    const met = targets.filter((t) => t.text('verdict') === 'met').length;
    rows.push([
      '`load`',
      targets.map((t) => `${t.text('target')} ${t.text('wanted')}`).join('; '),
      targets.map((t) => (t.numOrNull('ratio') === null ? '-' : times(t.num('ratio')))).join(', '),
      `${met} of ${targets.length} met`,
    ]);
  }
  {
    const f = benchField(sources.bench('db'));
    const r = f.get('ratios');
    const t = f.get('targets');
    // The verdict is serve's default, batch mode; one statement per lookup is shown beside it.
    const a = r.numOrNull('serveBatchOverNodeHttp');
    const b = r.numOrNull('serveBatchOverPgbenchPrepared');
    const both = a !== null && b !== null;
    const shown = (x: number | null): string => (x === null ? 'n/a' : times(x));
    rows.push([
      '`db`',
      `≥ ${times(t.num('VS_NODE_HTTP'))} node:http + pg.native, ≥ ${times(t.num('VS_PGBENCH'))} pgbench -M prepared (issue 16)`,
      `${shown(a)}, ${shown(b)} with --pool-batch ${f.num('batchSize')} (serve's default); ${shown(r.numOrNull('serveOverNodeHttp'))}, ${shown(r.numOrNull('serveOverPgbenchPrepared'))} with it off`,
      both ? verdict(a >= t.num('VS_NODE_HTTP') && b >= t.num('VS_PGBENCH')) : 'not measured',
    ]);
  }
  {
    const f = benchField(sources.bench('models'));
    rows.push(['`models`', 'the table lab 2 shows', `${f.list('cells').length} cells in ${formatNumber(f.num('elapsedS'))} s`, 'see [models.md](models.md)']);
  }
  {
    const f = benchField(sources.bench('metrics-overhead'));
    const runs = f.list('runs');
    rows.push([
      '`metrics-overhead`',
      `< ${formatNumber(f.num('targetPercent'))}% of one core`,
      runs.map((r) => `${formatNumber(r.num('percentOfOneCore'))}%`).join(', '),
      `${runs.filter((r) => r.bool('underTarget')).length} of ${runs.length} under`,
    ]);
  }
  {
    const f = benchField(sources.bench('seed'));
    const shapes = f.list('shapes').map((s) => s.text('verdict'));
    const count = (v: string): number => shapes.filter((s) => s === v).length;
    rows.push([
      '`seed`',
      "the post's runs beside its figures",
      `${plural(f.list('rows').length, 'row')}; shapes: ${count('agrees')} agree, ${count('differs')} differ, ${count('unclear')} unclear`,
      'a table, no target',
    ]);
  }
  {
    const f = benchField(sources.bench('profile'));
    const total = (name: string): number =>
      new Field(benchJsonPath('profile'), `meanUsPerRequest.${name}`, (f.get('meanUsPerRequest').value as Record<string, unknown> | null)?.[name]).num('total');
    rows.push([
      '`profile`',
      'where /age spends its CPU',
      `${formatNumber(total('socketlab serve'))} µs vs ${formatNumber(total('naive node:net'))} µs per request (naive)`,
      'a breakdown, no target',
    ]);
  }
  const quick = ['parser', 'serve', 'load', 'db', 'models', 'metrics-overhead', 'seed', 'profile'].filter((name) => benchField(sources.bench(name)).bool('quick'));
  return [
    markdownTable(['program', 'target', 'this run', 'verdict'], rows),
    '',
    `*Each row from \`${BENCH_JSON_DIR}/NAME.json\`.${quick.length === 0 ? '' : ` Short runs (shorter or fewer rounds than the defaults): ${quick.join(', ')}.`}*`,
  ].join('\n');
}

// ── The registry ─────────────────────────────────────────────────────────────────────────

type Renderer = (args: readonly string[], sources: FigureSources) => string;

/** Every region name a doc may mark, and what fills it. */
export const FIGURE_RENDERERS: Readonly<Record<string, Renderer>> = {
  'bench-summary': (_, s) => renderBenchSummary(s),
  parser: (_, s) => renderParser(s),
  serve: (_, s) => renderServe(s),
  'serve-close': (_, s) => renderServeClose(s),
  load: (_, s) => renderLoad(s),
  db: (_, s) => renderDb(s),
  models: (_, s) => renderModels(s),
  'metrics-readings': (_, s) => renderMetricsReadings(s),
  'metrics-overhead': (_, s) => renderMetricsOverhead(s),
  profile: (_, s) => renderProfile(s),
  seed: (_, s) => renderSeed(s),
  'seed-post': () => renderSeedPost(),
  'lab-table': renderLabTable,
};

/** The markdown for one region, or a LabError naming what is missing. */
export function renderFigures(name: string, args: readonly string[], sources: FigureSources): string {
  const renderer = FIGURE_RENDERERS[name];
  if (renderer === undefined) throw figureError(`no figures named "${name}" (known: ${Object.keys(FIGURE_RENDERERS).join(', ')})`);
  return renderer(args, sources);
}
