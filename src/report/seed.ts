/**
 * The post's runs beside socketlab's, and the sentences that hold the two side by side
 * (bench/seed.ts measures; this file renders and judges, and does no I/O).
 *
 * Every figure of the post comes from post-figures.ts, itself checked against
 * ../shared/seed/figures.json; nothing here types one. A figure the post did not publish (any
 * p90, most runs' failures) is a dash, never a guess. The post ran on another machine, runtime
 * and load generator, so absolutes differ; what can agree or differ is the *shape*: which way
 * throughput and the tail move when users are added, or the link is slowed. Each shape
 * sentence is a pure function of both sides' numbers, states them, and ends in "agrees" or
 * "differs" (or says that this machine's runs were too noisy to tell). The post's own claims
 * (why its slowest request was slow, what keep-alive saves) are printed as the post's, with
 * what socketlab measured beside them.
 */
import { compareSpreads, formatSpread, spreadOf, VERDICT, type Spread } from '../metrics/comparison.js';
import type { MachineInfo } from '../results/lab-result.js';
import { POST_MACHINE, POST_RULE, POST_RUNS, postPoolSize, type PostRun } from './post-figures.js';
import { formatBytes, formatNumber } from '../format/numbers.js';
import { renderTable, type Cell } from '../format/table.js';

export interface SeedRun {
  /** The post's id (figures.json), or socketlab's own for a row the post did not run. */
  id: string;
  route: PostRun['route'];
  vus: number;
  remote: boolean;
  /** The post's figures for this run; null for a row only socketlab runs. */
  post: PostRun | null;
  /** The post's Npgsql pool at these VUs; null for /age, which opens no connection. */
  postPool: number | null;
  /** Why socketlab runs a row the post did not; null for the post's own runs. */
  why: string | null;
}

/** What each route requests: the post's GetAge and FetchUUID. `{1..1000}` picks an id per request. */
export const ROUTE_PATH = {
  age: '/age?birthdate=1993-05-01',
  uuid: '/uuid/{1..1000}',
} as const satisfies Record<PostRun['route'], string>;

/** Issue 16: the post's rule at the post's top VUs and a step past them, side by side. */
const EXTRA_RUNS = [
  {
    after: 'uuid-7500-local',
    run: {
      id: 'uuid-10000-local',
      route: 'uuid',
      vus: 10_000,
      remote: false,
      why: `the post's DB row one step past its 7,500 VUs, to see whether its rule ${POST_RULE} still holds`,
    },
  },
] as const;

function fromPost(run: PostRun): SeedRun {
  return { id: run.id, route: run.route, vus: run.vus, remote: run.remote, post: run, postPool: run.route === 'uuid' ? postPoolSize(run.vus) : null, why: null };
}

/** The post's seven runs, in its order, with socketlab's extra rows where they belong. */
export const SEED_RUNS: readonly SeedRun[] = POST_RUNS.flatMap((run) => [
  fromPost(run),
  ...EXTRA_RUNS.filter((extra) => extra.after === run.id).map(({ run: r }): SeedRun => ({ ...r, post: null, postPool: postPoolSize(r.vus) })),
]);

/** One seed run by id, or undefined. */
export function findSeedRun(id: string): SeedRun | undefined {
  return SEED_RUNS.find((run) => run.id === id);
}

// ── What bench/seed.ts measures ───────────────────────────────────────────────────────────

/** The server's pool over one measured run, from its /stats before and after. */
export interface PoolFigures {
  /** Enqueue → connection in hand. Avg is the run's alone (the prewarm's samples subtracted). */
  waitAvgMs: number;
  waitP99Ms: number;
  waitMaxMs: number;
  /** Send → result. The prewarm sends no query, so these are the run's alone. */
  queryAvgMs: number;
  queryP99Ms: number;
  queryMaxMs: number;
  /** Acquires during the run. */
  acquired: number;
  /** Acquires that gave up at --pool-timeout during the run. */
  timeouts: number;
  peakWaiting: number;
  /**
   * The server opens its whole pool before it listens, and each of those acquires is a wait
   * sample (a connect). /stats has no per-run histogram, so the wait p99 and max include
   * them; true when the longest wait may be one of them rather than the run's.
   */
  waitMaxMayBePrewarm: boolean;
  prewarmAcquires: number;
}

/** One run of one row in one round, as measured. */
export interface MeasuredFigures {
  rps: number;
  avgMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  failed: number;
  /** Failure kinds and non-2xx statuses that occurred, with counts. */
  failures: Record<string, number>;
  /** Connections the load generator opened. */
  connects: number;
  /** Did the post's rule hold in this run (p90 from the generator's merged histogram)? */
  postRulePassed: boolean;
  /** Null for /age (no database). */
  pool: PoolFigures | null;
}

export interface SeedMeasurement {
  runId: string;
  /** The server's --pool; null for /age. */
  pool: number | null;
  /** 0-based round of the interleaved runs. */
  round: number;
  /** Null when skipped. */
  figures: MeasuredFigures | null;
  /** Why this row did not run here (a missing capability, a low RLIMIT_NOFILE). */
  skipped: string | null;
}

/** Every round of one run at one pool size. */
export interface MeasuredRow {
  runId: string;
  pool: number | null;
  rounds: MeasuredFigures[];
  /** Why a round did not run (the first reason seen), or null when every round ran. */
  skipped: string | null;
  /** Rounds that did not run. */
  skippedRounds: number;
}

/** Measurements grouped into rows, in the order the rows first appear. */
export function groupMeasurements(measurements: readonly SeedMeasurement[]): MeasuredRow[] {
  const rows: MeasuredRow[] = [];
  for (const m of measurements) {
    let row = rows.find((r) => r.runId === m.runId && r.pool === m.pool);
    if (row === undefined) {
      row = { runId: m.runId, pool: m.pool, rounds: [], skipped: null, skippedRounds: 0 };
      rows.push(row);
    }
    if (m.figures !== null) row.rounds.push(m.figures);
    else {
      row.skipped ??= m.skipped;
      row.skippedRounds += 1;
    }
  }
  return rows;
}

function spreadOfRow(row: MeasuredRow, pick: (f: MeasuredFigures) => number): Spread | null {
  return row.rounds.length === 0 ? null : spreadOf(row.rounds.map(pick));
}

/** A spread as formatSpread prints it, but one value when every run gave the same (0 failed, not "0 (0–0)"). */
function formatRange(spread: Spread, round: (value: number) => number = round1): string {
  return spread.min === spread.max ? formatNumber(round(spread.median)) : formatSpread(spread, round);
}

const round1 = (value: number): number => (Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10);

// ── The figures table ─────────────────────────────────────────────────────────────────────

const TABLE_HEADER = ['run', 'side', 'pool', 'req/s', 'p50 ms', 'p90 ms', 'p95 ms', 'p99 ms', 'max ms', 'failed', POST_RULE] as const;

function postRow(run: SeedRun): Cell[] {
  const p = run.post;
  // The post publishes no p90, so neither its p90 nor its verdict on its own rule can be shown.
  return [run.id, 'post', p === null ? null : run.postPool, p?.rps, p?.p50Ms, null, p?.p95Ms, p?.p99Ms, p?.maxMs, p?.failures, null];
}

function hereRow(run: SeedRun, row: MeasuredRow): Cell[] {
  const median = (pick: (f: MeasuredFigures) => number): number | null => {
    const spread = spreadOfRow(row, pick);
    return spread === null ? null : round1(spread.median);
  };
  const n = row.rounds.length;
  const passed = row.rounds.filter((f) => f.postRulePassed).length;
  const rule = n === 0 ? null : passed === n ? 'pass' : passed === 0 ? 'fail' : `${passed} of ${n} pass`;
  const side = n === 0 ? 'here (skipped)' : 'here';
  return [
    run.id,
    side,
    row.pool,
    median((f) => f.rps),
    median((f) => f.p50Ms),
    median((f) => f.p90Ms),
    median((f) => f.p95Ms),
    median((f) => f.p99Ms),
    n === 0 ? null : round1(Math.max(...row.rounds.map((f) => f.maxMs))),
    n === 0 ? null : row.rounds.reduce((sum, f) => sum + f.failed, 0),
    rule,
  ];
}

/**
 * The post's row of each run, then a row per pool size measured here (none when `measured`
 * is null: the post's figures alone). Here, each cell is the median of the rounds, except
 * max (the longest of any round) and failed (all rounds added up).
 */
export function renderSeedTable(measured: readonly MeasuredRow[] | null, runs: readonly SeedRun[] = SEED_RUNS): string {
  const { header, rows } = seedTable(measured, runs);
  return renderTable(header, rows);
}

/** The cells of renderSeedTable, for a renderer of another format (the docs' markdown). */
export function seedTable(measured: readonly MeasuredRow[] | null, runs: readonly SeedRun[] = SEED_RUNS): { header: string[]; rows: Cell[][] } {
  const rows: Cell[][] = [];
  for (const run of runs) {
    rows.push(postRow(run));
    for (const row of measured?.filter((r) => r.runId === run.id) ?? []) rows.push(hereRow(run, row));
  }
  const header = measured === null ? TABLE_HEADER.slice(0, -1) : [...TABLE_HEADER];
  return { header, rows: rows.map((row) => row.slice(0, header.length)) };
}

/** The lines under the reference table: what the post names as each run's bottleneck, and the rows it did not run. */
export function renderRunNotes(runs: readonly SeedRun[] = SEED_RUNS): string[] {
  const lines: string[] = [];
  for (const run of runs) {
    if (run.post?.bottleneck !== undefined) lines.push(`  ${run.id}: the post names the bottleneck "${run.post.bottleneck}".`);
    if (run.post?.p99Approximate === true) lines.push(`  ${run.id}: the post's p99 is approximate.`);
    if (run.post === null && run.why !== null) lines.push(`  ${run.id}: not in the post; socketlab runs it as ${run.why}.`);
  }
  return lines;
}

/** Lines for the rows, or the rounds of a row, that did not run here, with the reason. */
export function renderSkips(measured: readonly MeasuredRow[]): string[] {
  return measured
    .filter((r) => r.skipped !== null)
    .map((r) => {
      const what = r.rounds.length === 0 ? 'skipped' : `${r.skippedRounds} of ${r.skippedRounds + r.rounds.length} rounds did not run, the figures are the other rounds'`;
      return `  ${r.runId}${r.pool === null ? '' : `, pool ${r.pool}`}: ${what}: ${r.skipped}`;
    });
}

// ── Where the time went ───────────────────────────────────────────────────────────────────

/** The round whose slowest request was the slowest of all, or null. */
function slowestRound(row: MeasuredRow): MeasuredFigures | null {
  return row.rounds.reduce<MeasuredFigures | null>((a, b) => (a === null || b.maxMs > a.maxMs ? b : a), null);
}

/**
 * At least this much of the slowest request was spent outside the pool: a request's time is
 * its wait for a connection, its query, and everything else (the server's event loop, the
 * kernel's socket queues, the load generator), so no request waited or queried longer than
 * the longest wait and the longest query.
 */
export function outsidePoolAtLeastMs(figures: MeasuredFigures): number | null {
  if (figures.pool === null) return null;
  return Math.max(0, figures.maxMs - figures.pool.waitMaxMs - figures.pool.queryMaxMs);
}

/** For each /uuid row measured, the round with the slowest request, split by the server's /stats. */
export function renderTimeTable(measured: readonly MeasuredRow[]): string | null {
  const rows: Cell[][] = [];
  for (const row of measured) {
    const f = slowestRound(row);
    if (f === null || f.pool === null) continue;
    const p = f.pool;
    const waitMax = p.waitMaxMayBePrewarm ? `≤ ${formatNumber(round1(p.waitMaxMs))}` : formatNumber(round1(p.waitMaxMs));
    rows.push([
      row.runId,
      row.pool,
      round1(f.maxMs),
      round1(p.waitP99Ms),
      waitMax,
      round1(p.queryP99Ms),
      round1(p.queryMaxMs),
      round1(outsidePoolAtLeastMs(f) ?? 0),
      p.timeouts,
      p.peakWaiting,
    ]);
  }
  if (rows.length === 0) return null;
  return renderTable(['run', 'pool', 'max ms', 'wait p99', 'wait max', 'query p99', 'query max', 'outside the pool ≥ ms', 'pool timeouts', 'most queued'], rows);
}

/** The rows whose longest wait may be a connect of the server's prewarm rather than the run's. */
export function renderPrewarmCaveats(measured: readonly MeasuredRow[]): string[] {
  return measured
    .map((row) => ({ row, f: slowestRound(row) }))
    .filter(({ f }) => f?.pool?.waitMaxMayBePrewarm === true)
    .map(
      ({ row, f }) =>
        `  ${row.runId}, pool ${row.pool}: "≤": the longest wait on record may be one of the ${f?.pool?.prewarmAcquires} connects the server made before it listened (${formatNumber(f?.pool?.acquired ?? 0)} acquires in the run), so the run's own is at most that.`,
    );
}

// ── Shapes: the post's against here ───────────────────────────────────────────────────────

/**
 * Within ±10% a change is "flat", on either side. The post ran each row once, on a machine
 * where k6, the app and Postgres shared 8 cores; it calls +0.2% flat and -4.5% a slight fall.
 * Here a direction also needs the rounds' ranges not to overlap (compareSpreads).
 */
export const FLAT_TOLERANCE = 0.1;

export const CHANGE = { ROSE: 'rose', FELL: 'fell', FLAT: 'flat', UNCLEAR: 'unclear' } as const;
export type Change = (typeof CHANGE)[keyof typeof CHANGE];

export const SHAPE_VERDICT = { AGREES: 'agrees', DIFFERS: 'differs', UNCLEAR: 'unclear' } as const;
export type ShapeVerdict = (typeof SHAPE_VERDICT)[keyof typeof SHAPE_VERDICT];

/**
 * Which way a quantity moved from `before` to `after`: flat within FLAT_TOLERANCE of the
 * median; rose or fell beyond it when every run of one side is past every run of the other;
 * unclear when the medians moved but the ranges overlap. A single value a side (the post)
 * has no range, so only the tolerance applies.
 */
export function classifyChange(before: Spread, after: Spread, tolerance: number = FLAT_TOLERANCE): Change {
  if (before.median === 0) return after.median === 0 ? CHANGE.FLAT : CHANGE.UNCLEAR;
  const ratio = after.median / before.median;
  if (Math.abs(ratio - 1) <= tolerance) return CHANGE.FLAT;
  const verdict = compareSpreads(after, before);
  if (ratio > 1 && verdict === VERDICT.HIGHER) return CHANGE.ROSE;
  if (ratio < 1 && verdict === VERDICT.LOWER) return CHANGE.FELL;
  return CHANGE.UNCLEAR;
}

function verdictOf(post: readonly Change[], here: readonly Change[]): ShapeVerdict {
  if (here.includes(CHANGE.UNCLEAR)) return SHAPE_VERDICT.UNCLEAR;
  return post.every((c, i) => c === here[i]) ? SHAPE_VERDICT.AGREES : SHAPE_VERDICT.DIFFERS;
}

export interface ShapeSentence {
  id: string;
  verdict: ShapeVerdict;
  text: string;
}

/** What the sentences read from each side. */
export interface ShapeInput {
  /** The post's runs (POST_RUNS; tests pass contrary ones). */
  post: readonly PostRun[];
  measured: readonly MeasuredRow[];
  /** socketlab's default --pool, measured beside the post's sizes. */
  defaultPool: number;
}

const VERDICT_TEXT: Record<ShapeVerdict, string> = {
  agrees: 'agrees',
  differs: 'differs',
  unclear: "this machine's runs overlap too much to tell whether it agrees",
};

const CHANGE_TEXT: Record<Change, string> = { rose: 'rose', fell: 'fell', flat: 'stayed flat', unclear: 'moved, but its runs overlap' };

function percentChange(before: number, after: number): string {
  if (before === 0) return 'n/a';
  const change = Math.round(((after - before) / before) * 100);
  return `${change > 0 ? '+' : ''}${change}%`;
}

/** "9,326 → 14,906 req/s, +60%" or "8,100 (7,900–8,400) → …": a side's two values and the change of the medians. */
function move(before: Spread, after: Spread, unit: string): string {
  return `${formatRange(before)} → ${formatRange(after)} ${unit}, ${percentChange(before.median, after.median)}`;
}

interface Side {
  rps: Spread;
  p95Ms: Spread | null;
  p99Ms: Spread | null;
}

function postSide(post: readonly PostRun[], id: string): Side | null {
  const run = post.find((r) => r.id === id);
  if (run === undefined) return null;
  const one = (value: number | undefined): Spread | null => (value === undefined ? null : spreadOf([value]));
  return { rps: spreadOf([run.rps]), p95Ms: one(run.p95Ms), p99Ms: one(run.p99Ms) };
}

function hereSide(measured: readonly MeasuredRow[], id: string, pool: number | null): Side | null {
  const row = measured.find((r) => r.runId === id && r.pool === pool);
  if (row === undefined || row.rounds.length === 0) return null;
  return { rps: spreadOfRow(row, (f) => f.rps) as Spread, p95Ms: spreadOfRow(row, (f) => f.p95Ms), p99Ms: spreadOfRow(row, (f) => f.p99Ms) };
}

/** The pool a run had in the post (null for /age); measured rows at that size are "with the post's pools". */
function postPoolOf(post: readonly PostRun[], id: string): number | null {
  const run = post.find((r) => r.id === id) ?? findSeedRun(id);
  return run === undefined || run.route !== 'uuid' ? null : postPoolSize(run.vus);
}

/** Throughput and a latency percentile from one run to another: the compute route's 1k → 7.5k, the remote 1k → 5k. */
function describeThroughputAndTail(input: ShapeInput, spec: { id: string; what: string; from: string; to: string; tail: 'p95Ms' | 'p99Ms' }): ShapeSentence | null {
  const label = spec.tail === 'p95Ms' ? 'p95' : 'p99';
  const [pf, pt] = [postSide(input.post, spec.from), postSide(input.post, spec.to)];
  const [hf, ht] = [hereSide(input.measured, spec.from, postPoolOf(input.post, spec.from)), hereSide(input.measured, spec.to, postPoolOf(input.post, spec.to))];
  if (pf === null || pt === null || hf === null || ht === null) return null;
  const [pfTail, ptTail, hfTail, htTail] = [pf[spec.tail], pt[spec.tail], hf[spec.tail], ht[spec.tail]];
  if (pfTail === null || ptTail === null || hfTail === null || htTail === null) return null;
  const post = [classifyChange(pf.rps, pt.rps), classifyChange(pfTail, ptTail)] as const;
  const here = [classifyChange(hf.rps, ht.rps), classifyChange(hfTail, htTail)] as const;
  const verdict = verdictOf(post, here);
  const pools = postPoolOf(input.post, spec.from) === null ? '' : `, pools ${postPoolOf(input.post, spec.from)} → ${postPoolOf(input.post, spec.to)} as in the post`;
  const text =
    `${spec.what}: in the post req/s ${CHANGE_TEXT[post[0]]} (${move(pf.rps, pt.rps, 'req/s')}) while ${label} ${CHANGE_TEXT[post[1]]} (${move(pfTail, ptTail, 'ms')}); ` +
    `here req/s ${CHANGE_TEXT[here[0]]} (${move(hf.rps, ht.rps, 'req/s')}) while ${label} ${CHANGE_TEXT[here[1]]} (${move(hfTail, htTail, 'ms')}${pools}): ${VERDICT_TEXT[verdict]}.`;
  return { id: spec.id, verdict, text };
}

/**
 * /uuid's throughput from one VU count to the next, here measured twice: with the post's
 * pools (which grew from 200 to 300 at 5,000 VUs) and with socketlab's default at both. The
 * note after them says, from the two verdicts, whether the pool accounts for a difference.
 */
function describeDbStep(input: ShapeInput, spec: { id: string; from: string; to: string }): ShapeSentence[] {
  const [pf, pt] = [postSide(input.post, spec.from), postSide(input.post, spec.to)];
  if (pf === null || pt === null) return [];
  const [poolFrom, poolTo] = [postPoolOf(input.post, spec.from), postPoolOf(input.post, spec.to)];
  const [vf, vt] = [input.post.find((r) => r.id === spec.from)?.vus ?? 0, input.post.find((r) => r.id === spec.to)?.vus ?? 0];
  const postChange = classifyChange(pf.rps, pt.rps);
  const poolText = poolFrom === poolTo ? `with its pool at ${poolFrom}` : `as its pool grew from ${poolFrom} to ${poolTo}`;
  const head = `/uuid, ${formatNumber(vf)} → ${formatNumber(vt)} VUs: in the post req/s ${CHANGE_TEXT[postChange]} (${move(pf.rps, pt.rps, 'req/s')}) ${poolText}`;
  const sentences: ShapeSentence[] = [];
  const settings = [
    { key: 'post-pools', from: poolFrom, to: poolTo, name: poolFrom === poolTo ? `the post's pool of ${poolFrom}` : `the post's pools (${poolFrom} → ${poolTo})` },
    { key: 'default-pool', from: input.defaultPool, to: input.defaultPool, name: `socketlab's default pool of ${input.defaultPool} at both` },
  ];
  for (const setting of settings) {
    const [hf, ht] = [hereSide(input.measured, spec.from, setting.from), hereSide(input.measured, spec.to, setting.to)];
    if (hf === null || ht === null) continue;
    const here = classifyChange(hf.rps, ht.rps);
    const verdict = verdictOf([postChange], [here]);
    sentences.push({
      id: `${spec.id}:${setting.key}`,
      verdict,
      text: `${head}; here, with ${setting.name}, req/s ${CHANGE_TEXT[here]} (${move(hf.rps, ht.rps, 'req/s')}): ${VERDICT_TEXT[verdict]}.`,
    });
  }
  return sentences;
}

/** A's rate as a share of B's, on both sides: /uuid against /age, remote against local. */
function describeShare(input: ShapeInput, spec: { id: string; what: string; base: string; other: string; postNote: string; hereNote: string }): ShapeSentence | null {
  const [pb, po] = [postSide(input.post, spec.base), postSide(input.post, spec.other)];
  const [hb, ho] = [hereSide(input.measured, spec.base, postPoolOf(input.post, spec.base)), hereSide(input.measured, spec.other, postPoolOf(input.post, spec.other))];
  if (pb === null || po === null || hb === null || ho === null) return null;
  const [post, here] = [classifyChange(pb.rps, po.rps), classifyChange(hb.rps, ho.rps)];
  const verdict = verdictOf([post], [here]);
  const share = (a: Spread, b: Spread): string => (b.median === 0 ? 'n/a' : `${Math.round((a.median / b.median) * 100)}%`);
  const pool = postPoolOf(input.post, spec.other);
  const text =
    `${spec.what}: in the post ${share(po.rps, pb.rps)} (${formatRange(po.rps)} against ${formatRange(pb.rps)} req/s${spec.postNote}); ` +
    `here ${share(ho.rps, hb.rps)} (${formatRange(ho.rps)} against ${formatRange(hb.rps)} req/s${spec.hereNote}${pool === null ? '' : `, pool ${pool}`}): ${VERDICT_TEXT[verdict]}.`;
  return { id: spec.id, verdict, text };
}

/**
 * Every shape the post's findings rest on, each stated from both sides' numbers; a sentence
 * is left out when either side has no figure for it.
 */
export function describeShapes(input: ShapeInput): ShapeSentence[] {
  const sentences: (ShapeSentence | null)[] = [
    describeShare(input, {
      id: 'db-vs-compute',
      what: "/uuid's rate as a share of /age's at 1,000 VUs",
      base: 'age-1000-local',
      other: 'uuid-1000-local',
      postNote: '',
      hereNote: '',
    }),
    describeThroughputAndTail(input, { id: 'compute-flat', what: '/age, 1,000 → 7,500 VUs', from: 'age-1000-local', to: 'age-7500-local', tail: 'p99Ms' }),
    ...describeDbStep(input, { id: 'db-1000-5000', from: 'uuid-1000-local', to: 'uuid-5000-local' }),
    ...describeDbStep(input, { id: 'db-5000-7500', from: 'uuid-5000-local', to: 'uuid-7500-local' }),
    describeShare(input, {
      id: 'remote-vs-local',
      what: "The remote client's rate as a share of the local one on /uuid at 1,000 VUs",
      base: 'uuid-1000-local',
      other: 'uuid-1000-remote',
      postNote: ', over its Wi-Fi',
      hereNote: ', over the emulated link',
    }),
    describeThroughputAndTail(input, { id: 'remote-collapse', what: 'Remote /uuid, 1,000 → 5,000 VUs', from: 'uuid-1000-remote', to: 'uuid-5000-remote', tail: 'p95Ms' }),
  ];
  return sentences.filter((s): s is ShapeSentence => s !== null);
}

/**
 * What the two pool settings of one DB step say together: whether the pool accounts for a
 * shape that differs. Only a reading the two verdicts support is printed.
 */
export function explainPoolEffect(sentences: readonly ShapeSentence[]): string[] {
  const lines: string[] = [];
  for (const step of ['db-1000-5000', 'db-5000-7500']) {
    const withPost = sentences.find((s) => s.id === `${step}:post-pools`)?.verdict;
    const withDefault = sentences.find((s) => s.id === `${step}:default-pool`)?.verdict;
    if (withPost === undefined || withDefault === undefined) continue;
    const name = step === 'db-1000-5000' ? '1,000 → 5,000 VUs' : '5,000 → 7,500 VUs';
    if (withPost === SHAPE_VERDICT.AGREES && withDefault === SHAPE_VERDICT.DIFFERS)
      lines.push(`${name}: the post's shape appears with its pools and not with socketlab's default: the pool size accounts for the difference.`);
    else if (withPost === SHAPE_VERDICT.DIFFERS && withDefault === SHAPE_VERDICT.DIFFERS)
      lines.push(`${name}: neither pool setting gives the post's shape here, so the pool size does not account for the difference.`);
    else if (withPost === SHAPE_VERDICT.AGREES && withDefault === SHAPE_VERDICT.AGREES)
      lines.push(`${name}: both pool settings give the post's shape here: it does not depend on the pool size.`);
  }
  return lines;
}

// ── The post's claims, and what was measured here ─────────────────────────────────────────

/**
 * The post attributes its slowest request on /uuid at 1,000 VUs to the pool queue. Beside
 * that claim: the slowest request here at each pool size, split by the server's /stats
 * into the longest wait for a connection, the longest query, and what neither can explain.
 */
export function describeTailClaim(post: readonly PostRun[], measured: readonly MeasuredRow[]): string[] {
  const run = post.find((r) => r.id === 'uuid-1000-local');
  if (run === undefined || run.maxMs === undefined) return [];
  const failures = run.failures === undefined ? '' : ` (${formatNumber(run.failures)} failed requests in that run)`;
  const lines = [
    `The post: its slowest request on /uuid at ${formatNumber(run.vus)} VUs took ${formatNumber(run.maxMs)} ms, which it attributes to requests stuck in the pool's queue with all ${postPoolSize(run.vus)} connections busy${failures}.`,
  ];
  for (const row of measured.filter((r) => r.runId === run.id)) {
    const f = slowestRound(row);
    if (f === null || f.pool === null) continue;
    const outside = outsidePoolAtLeastMs(f) as number;
    let reading = '';
    if (outside >= f.maxMs / 2) reading = ' Most of that tail came from outside the pool.';
    // A longest wait that may be a prewarm connect says nothing about the run's queue.
    else if (!f.pool.waitMaxMayBePrewarm && f.pool.waitMaxMs >= f.maxMs / 2) reading = ' Here too, the wait for a connection can account for most of it.';
    const wait = f.pool.waitMaxMayBePrewarm
      ? `at most ${formatNumber(round1(f.pool.waitMaxMs))} ms (the longest wait on record may be one of the server's ${formatNumber(f.pool.prewarmAcquires)} connects before it listened)`
      : `${formatNumber(round1(f.pool.waitMaxMs))} ms`;
    lines.push(
      `Here, pool ${row.pool}: the slowest request took ${formatNumber(round1(f.maxMs))} ms; the longest wait for a connection was ${wait} and the longest query ${formatNumber(round1(f.pool.queryMaxMs))} ms (the server's /stats), ` +
        `so at least ${formatNumber(round1(outside))} ms of it was spent outside the pool: in the server's event loop, the kernel's socket queues or the load generator. ${formatNumber(f.failed)} failed.${reading}`,
    );
  }
  return lines.length > 1 ? lines : [];
}

/** The post: with keep-alive, 7,500 VUs need about 7,500 ports. Here: connections opened per VU. */
export function describeKeepAliveClaim(measured: readonly MeasuredRow[], runs: readonly SeedRun[] = SEED_RUNS): ShapeSentence | null {
  const run = runs.find((r) => r.id === 'age-7500-local');
  const row = measured.find((r) => r.runId === 'age-7500-local' && r.rounds.length > 0);
  if (run === undefined || row === undefined) return null;
  const most = row.rounds.reduce((a, b) => (b.connects > a.connects ? b : a));
  // A VU opens one connection and keeps it; a few more are reconnects after a failure.
  const verdict = most.connects <= run.vus * (1 + FLAT_TOLERANCE) ? SHAPE_VERDICT.AGREES : SHAPE_VERDICT.DIFFERS;
  return {
    id: 'keep-alive-ports',
    verdict,
    text: `The post: with keep-alive, ${formatNumber(run.vus)} VUs need about ${formatNumber(run.vus)} ports, not one per request. Here, ${run.id}: ${formatNumber(most.connects)} connections for ${formatNumber(most.requests)} requests in the round that opened the most: ${VERDICT_TEXT[verdict]}.`,
  };
}

/** Issue 16: the post's rule on the DB rows at 7,500 and 10,000 VUs, at each pool size. */
export function describePostRule(measured: readonly MeasuredRow[]): string[] {
  const lines: string[] = [];
  for (const id of ['uuid-7500-local', 'uuid-10000-local']) {
    for (const row of measured.filter((r) => r.runId === id && r.rounds.length > 0)) {
      const p90 = spreadOf(row.rounds.map((f) => f.p90Ms));
      // Failures are counts, one per run: listed, since a median of 0 and 3 (1.5) was never seen.
      const counts = row.rounds.map((f) => f.failed);
      const failed = counts.every((c) => c === counts[0]) ? formatNumber(counts[0] as number) : counts.map(formatNumber).join(' / ');
      const passed = row.rounds.filter((f) => f.postRulePassed).length;
      const verdict = passed === row.rounds.length ? 'held in every run' : passed === 0 ? 'failed in every run' : `held in ${passed} of ${row.rounds.length} runs`;
      lines.push(`${id}, pool ${row.pool}: p90 ${formatRange(p90)} ms, ${failed} failed: ${POST_RULE} ${verdict}.`);
    }
  }
  if (lines.length === 0) return [];
  return [`The post's rule is ${POST_RULE}; it publishes no p90 of its own runs, so only this machine's can be held to it.`, ...lines];
}

// ── The machines ─────────────────────────────────────────────────────────────────────────

export interface SeedSetup {
  /** `socketlab serve` as run for the /uuid rows. */
  server: string;
  pool: string;
  database: string;
  loadGenerator: string;
  /** How the "remote" client reached the server, or why it could not. */
  link: string;
  runLength: string;
}

/** How the two set-ups differ, from what the post says of its own and this machine's description. */
export function renderMachineComparison(machine: MachineInfo, setup: SeedSetup): string {
  const pools = POST_MACHINE.poolMaxConnections;
  const rows: Cell[][] = [
    ['cores', `${POST_MACHINE.cores}`, `${machine.cores} (${machine.cpuModel})`],
    ['memory', `${POST_MACHINE.memoryGb} GB`, formatBytes(machine.memoryBytes)],
    ['runtime', POST_MACHINE.runtime, `Node ${machine.node} on ${machine.kernel}`],
    ['server', "the post's .NET service", setup.server],
    ['pool', `Npgsql, ${pools.at1000Vus} at 1,000 VUs, ${pools.from5000Vus} from 5,000; acquire timeout not published`, setup.pool],
    ['database', 'PostgreSQL', setup.database],
    ['load generator', POST_MACHINE.loadGenerator, setup.loadGenerator],
    ['"remote" client', POST_MACHINE.remoteLink, setup.link],
    ['run length', `${POST_MACHINE.runMinutes} min per run`, setup.runLength],
  ];
  return renderTable(['', 'the post', `here (${machine.hostname})`], rows);
}
