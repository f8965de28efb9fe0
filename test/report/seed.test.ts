/**
 * `socketlab bench seed`'s figures and sentences: the post's side checked against
 * ../shared/seed/figures.json, and every shape sentence fed numbers where the shape agrees
 * and numbers where it does not, so that the word it ends with is seen to flip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spreadOf } from '../../src/metrics/comparison.js';
import { POST_RUNS, type PostRun } from '../../src/report/post-figures.js';
import {
  CHANGE,
  classifyChange,
  describeKeepAliveClaim,
  describePostRule,
  describeShapes,
  describeTailClaim,
  explainPoolEffect,
  groupMeasurements,
  renderMachineComparison,
  renderSeedTable,
  renderSkips,
  renderTimeTable,
  SEED_RUNS,
  SHAPE_VERDICT,
  type MeasuredFigures,
  type MeasuredRow,
  type ShapeSentence,
} from '../../src/report/seed.js';
import { runCli } from '../support/cli.js';
import { MACHINE } from './fixtures.js';

/** ../shared/seed beside the project folder (dist/test/report/ is three levels down). */
const FIGURES = fileURLToPath(new URL('../../../../shared/seed/figures.json', import.meta.url));
const DEFAULT_POOL = 20;

interface FiguresRun {
  id: string;
  [field: string]: unknown;
}

function figures(overrides: Partial<MeasuredFigures> = {}): MeasuredFigures {
  return {
    rps: 1000,
    avgMs: 10,
    p50Ms: 10,
    p90Ms: 20,
    p95Ms: 30,
    p99Ms: 40,
    maxMs: 100,
    requests: 10_000,
    failed: 0,
    failures: {},
    connects: 1000,
    postRulePassed: true,
    pool: null,
    ...overrides,
  };
}

/** A row of rounds with these req/s (and p95/p99 when given, one per round). */
function row(runId: string, pool: number | null, rps: number[], extra: { p95Ms?: number[]; p99Ms?: number[] } = {}): MeasuredRow {
  return { runId, pool, skipped: null, skippedRounds: 0, rounds: rps.map((value, i) => figures({ rps: value, p95Ms: extra.p95Ms?.[i] ?? 30, p99Ms: extra.p99Ms?.[i] ?? 40 })) };
}

function sentence(sentences: readonly ShapeSentence[], id: string): ShapeSentence {
  const found = sentences.find((s) => s.id === id);
  assert.ok(found !== undefined, `no sentence "${id}" in:\n${sentences.map((s) => s.text).join('\n')}`);
  return found;
}

/** The post's runs with some figures replaced: the contrary of what it measured. */
function postWith(changes: Record<string, Partial<PostRun>>): PostRun[] {
  return POST_RUNS.map((run) => ({ ...run, ...changes[run.id] }));
}

test("the post's figures in the seed table are the ones in ../shared/seed/figures.json, a dash where it has none", (t) => {
  if (!existsSync(FIGURES)) {
    t.skip(`${FIGURES} is not here (a clone outside the workspace): nothing to check the committed figures against`);
    return;
  }
  const source = JSON.parse(readFileSync(FIGURES, 'utf8')) as { runs: FiguresRun[] };
  assert.deepEqual(
    SEED_RUNS.filter((r) => r.post !== null).map((r) => r.id),
    source.runs.map((r) => r.id),
    'every run of the post, in its order',
  );
  const table = renderSeedTable(null);
  for (const run of source.runs) {
    const line = table.split('\n').find((l) => l.trimStart().startsWith(`${run.id} `));
    assert.ok(line !== undefined, `no row for ${run.id}`);
    const cells = line.trim().split(/\s{2,}/);
    const shown = (value: unknown): string => (typeof value === 'number' ? value.toLocaleString('en-US') : '-');
    // run, side, pool, req/s, p50, p90, p95, p99, max, failed
    assert.deepEqual(cells.slice(3), [shown(run.rps), shown(run.p50Ms), '-', shown(run.p95Ms), shown(run.p99Ms), shown(run.maxMs), shown(run.failures)], run.id);
  }
  const extra = table.split('\n').find((l) => l.includes('uuid-10000-local')) ?? '';
  assert.match(extra, /uuid-10000-local\s+post(\s+-){8}$/, 'the post did not run 10,000 VUs: dashes');
});

test('the machines: the post\'s 16 GB and pool sizes, not "not published" and not 20', () => {
  const text = renderMachineComparison(MACHINE, { server: 's', pool: 'p', database: 'd', loadGenerator: 'g', link: 'l', runLength: 'r' });
  assert.match(text, /memory\s+16 GB/);
  assert.match(text, /cores\s+8\s+2 \(AMD EPYC\)/);
  assert.match(text, /pool\s+Npgsql, 200 at 1,000 VUs, 300 from 5,000/);
  assert.match(text, /run length\s+6 min per run/);
  assert.doesNotMatch(text, /not published"/);
});

test('a change is flat within 10%, a rise or fall only when the ranges part, else unclear', () => {
  const one = (v: number) => spreadOf([v]);
  assert.equal(classifyChange(one(28_807), one(28_871)), CHANGE.FLAT);
  assert.equal(classifyChange(one(9_326), one(14_906)), CHANGE.ROSE);
  assert.equal(classifyChange(one(4_584), one(2_717)), CHANGE.FELL);
  assert.equal(classifyChange(one(14_906), one(14_228)), CHANGE.FLAT, '-4.5% is within the tolerance');
  assert.equal(classifyChange(spreadOf([100, 110, 120]), spreadOf([150, 160, 170])), CHANGE.ROSE);
  assert.equal(classifyChange(spreadOf([100, 110, 200]), spreadOf([150, 160, 170])), CHANGE.UNCLEAR, 'medians apart, ranges overlapping');
  assert.equal(classifyChange(spreadOf([100, 110, 120]), spreadOf([60, 70, 80])), CHANGE.FELL);
});

test('compute route: flat throughput with a growing p99 agrees; a fall differs', () => {
  const shape = (rps7500: number[], p99: number[]) =>
    sentence(
      describeShapes({
        post: POST_RUNS,
        defaultPool: DEFAULT_POOL,
        measured: [row('age-1000-local', null, [60_000, 61_000], { p99Ms: [20, 22] }), row('age-7500-local', null, rps7500, { p99Ms: p99 })],
      }),
      'compute-flat',
    );
  const agrees = shape([59_000, 62_000], [150, 170]);
  assert.equal(agrees.verdict, SHAPE_VERDICT.AGREES, agrees.text);
  assert.match(agrees.text, /in the post req\/s stayed flat \(28,807 → 28,871 req\/s, 0%\) while p99 rose \(50 → 331 ms, \+562%\)/);
  assert.match(agrees.text, /here req\/s stayed flat .* while p99 rose .*: agrees\.$/);
  const fell = shape([30_000, 31_000], [150, 170]);
  assert.equal(fell.verdict, SHAPE_VERDICT.DIFFERS, fell.text);
  assert.match(fell.text, /here req\/s fell \(60,500 \(60,000–61,000\) → 30,500 \(30,000–31,000\) req\/s, -50%\).*: differs\.$/);
  const noisy = shape([30_000, 70_000], [150, 170]);
  assert.equal(noisy.verdict, SHAPE_VERDICT.UNCLEAR, noisy.text);
  assert.match(noisy.text, /too much to tell/);
});

test('DB 1,000 → 5,000: measured with both pools, each verdict from its own numbers, and what the pool explains', () => {
  const measured = [
    row('uuid-1000-local', 200, [8_000, 8_200]),
    row('uuid-5000-local', 300, [9_500, 9_800]),
    row('uuid-1000-local', DEFAULT_POOL, [8_000, 8_200]),
    row('uuid-5000-local', DEFAULT_POOL, [6_000, 6_200]),
  ];
  const shapes = describeShapes({ post: POST_RUNS, defaultPool: DEFAULT_POOL, measured });
  const withPost = sentence(shapes, 'db-1000-5000:post-pools');
  const withDefault = sentence(shapes, 'db-1000-5000:default-pool');
  assert.equal(withPost.verdict, SHAPE_VERDICT.AGREES, withPost.text);
  assert.match(withPost.text, /in the post req\/s rose \(9,326 → 14,906 req\/s, \+60%\) as its pool grew from 200 to 300; here, with the post's pools \(200 → 300\), req\/s rose/);
  assert.equal(withDefault.verdict, SHAPE_VERDICT.DIFFERS, withDefault.text);
  assert.match(withDefault.text, /with socketlab's default pool of 20 at both, req\/s fell .*: differs\.$/);
  assert.deepEqual(explainPoolEffect(shapes), [
    "1,000 → 5,000 VUs: the post's shape appears with its pools and not with socketlab's default: the pool size accounts for the difference.",
  ]);

  // Contrary post: had its throughput fallen, the same measurements would differ with its pools.
  const contrary = describeShapes({ post: postWith({ 'uuid-5000-local': { rps: 5_000 } }), defaultPool: DEFAULT_POOL, measured });
  assert.equal(sentence(contrary, 'db-1000-5000:post-pools').verdict, SHAPE_VERDICT.DIFFERS);
  assert.equal(sentence(contrary, 'db-1000-5000:default-pool').verdict, SHAPE_VERDICT.AGREES);
  assert.deepEqual(explainPoolEffect(contrary), [], 'no reading the two verdicts do not support');

  const bothFall = describeShapes({
    post: POST_RUNS,
    defaultPool: DEFAULT_POOL,
    measured: [measured[0], row('uuid-5000-local', 300, [6_000, 6_100]), measured[2], measured[3]] as MeasuredRow[],
  });
  assert.match(explainPoolEffect(bothFall)[0] ?? '', /neither pool setting gives the post's shape here, so the pool size does not account for the difference/);
});

test("DB 5,000 → 7,500: the post's -5% is flat; a flat here agrees, a fall differs", () => {
  const shape = (rps: number[]) =>
    sentence(
      describeShapes({ post: POST_RUNS, defaultPool: DEFAULT_POOL, measured: [row('uuid-5000-local', 300, [9_000, 9_400]), row('uuid-7500-local', 300, rps)] }),
      'db-5000-7500:post-pools',
    );
  const flat = shape([8_900, 9_300]);
  assert.equal(flat.verdict, SHAPE_VERDICT.AGREES, flat.text);
  assert.match(flat.text, /in the post req\/s stayed flat \(14,906 → 14,228 req\/s, -5%\) with its pool at 300/);
  assert.equal(shape([5_000, 5_200]).verdict, SHAPE_VERDICT.DIFFERS);
});

test('remote: a share below local agrees, a share above differs; the collapse needs both rps down and p95 up', () => {
  const local = row('uuid-1000-local', 200, [8_000, 8_200]);
  const share = (remote: number[]) =>
    sentence(describeShapes({ post: POST_RUNS, defaultPool: DEFAULT_POOL, measured: [local, row('uuid-1000-remote', 200, remote)] }), 'remote-vs-local');
  const below = share([1_200, 1_250]);
  assert.equal(below.verdict, SHAPE_VERDICT.AGREES, below.text);
  assert.match(below.text, /in the post 49% \(4,584 against 9,326 req\/s, over its Wi-Fi\); here 15% .*over the emulated link, pool 200\): agrees\.$/);
  assert.equal(share([8_100, 8_150]).verdict, SHAPE_VERDICT.DIFFERS, 'no slower than local: the link hid nothing');

  const collapse = (rps5000: number[], p95: number[]) =>
    sentence(
      describeShapes({
        post: POST_RUNS,
        defaultPool: DEFAULT_POOL,
        measured: [row('uuid-1000-remote', 200, [1_200, 1_250], { p95Ms: [800, 820] }), row('uuid-5000-remote', 300, rps5000, { p95Ms: p95 })],
      }),
      'remote-collapse',
    );
  const fell = collapse([600, 650], [4_000, 4_400]);
  assert.equal(fell.verdict, SHAPE_VERDICT.AGREES, fell.text);
  assert.match(fell.text, /in the post req\/s fell \(4,584 → 2,717 req\/s, -41%\) while p95 rose \(251 → 4,450 ms/);
  const capped = collapse([1_210, 1_240], [4_000, 4_400]);
  assert.equal(capped.verdict, SHAPE_VERDICT.DIFFERS, "flat at the link's cap is not the post's collapse");
});

test('a shape sentence is left out when either side has no figure', () => {
  const measured = [row('uuid-1000-local', 200, [8_000, 8_200]), row('uuid-5000-local', 300, [9_500, 9_800])];
  const ids = (post: readonly PostRun[], rows: MeasuredRow[]) => describeShapes({ post, defaultPool: DEFAULT_POOL, measured: rows }).map((s) => s.id);
  assert.deepEqual(ids(POST_RUNS, measured), ['db-1000-5000:post-pools'], 'only the pair measured here');
  assert.deepEqual(
    ids(
      POST_RUNS.filter((r) => r.id !== 'uuid-5000-local'),
      measured,
    ),
    [],
    'the post without that run',
  );
  const skipped: MeasuredRow = { runId: 'uuid-5000-local', pool: 300, rounds: [], skipped: 'no PostgreSQL', skippedRounds: 1 };
  assert.deepEqual(ids(POST_RUNS, [measured[0] as MeasuredRow, skipped]), [], 'a skipped row is no side');
});

test("the post's pool-queue claim sits beside where the slowest request's time went here", () => {
  const pool = (waitMaxMs: number, queryMaxMs: number) => ({
    waitAvgMs: 5,
    waitP99Ms: 40,
    waitMaxMs,
    queryAvgMs: 1,
    queryP99Ms: 3,
    queryMaxMs,
    acquired: 9000,
    timeouts: 0,
    peakWaiting: 800,
    waitMaxMayBePrewarm: false,
    prewarmAcquires: 200,
  });
  const rows = (waitMaxMs: number): MeasuredRow[] => [
    {
      runId: 'uuid-1000-local',
      pool: 200,
      skipped: null,
      skippedRounds: 0,
      rounds: [figures({ maxMs: 3_000, failed: 2, pool: pool(waitMaxMs, 50) }), figures({ maxMs: 1_000, pool: pool(900, 50) })],
    },
  ];
  const outside = describeTailClaim(POST_RUNS, rows(400));
  assert.match(
    outside[0] ?? '',
    /^The post: its slowest request on \/uuid at 1,000 VUs took 15,700 ms, which it attributes to requests stuck in the pool's queue with all 200 connections busy \(55 failed requests in that run\)\.$/,
  );
  assert.match(
    outside[1] ?? '',
    /pool 200: the slowest request took 3,000 ms; the longest wait for a connection was 400 ms and the longest query 50 ms .*at least 2,550 ms of it was spent outside the pool/,
  );
  assert.match(outside[1] ?? '', /Most of that tail came from outside the pool\.$/);
  const queued = describeTailClaim(POST_RUNS, rows(2_800));
  assert.match(queued[1] ?? '', /at least 150 ms .* Here too, the wait for a connection can account for most of it\.$/);
  assert.doesNotMatch(queued[1] ?? '', /outside the pool\.$/);
  assert.deepEqual(describeTailClaim(POST_RUNS, []), [], 'nothing measured: the claim is not printed alone');

  // The longest wait on record may be a connect of the server's prewarm: no queue reading from it.
  const prewarm = rows(2_800).map((r) => ({ ...r, rounds: r.rounds.map((f) => ({ ...f, pool: f.pool === null ? null : { ...f.pool, waitMaxMayBePrewarm: true } })) }));
  const bounded = describeTailClaim(POST_RUNS, prewarm)[1] ?? '';
  assert.match(bounded, /the longest wait for a connection was at most 2,800 ms \(the longest wait on record may be one of the server's 200 connects before it listened\)/);
  assert.doesNotMatch(bounded, /Here too/);
  assert.match(renderTimeTable(prewarm) ?? '', /uuid-1000-local\s+200\s+3,000\s+40\s+≤ 2,800/);
  assert.match(renderTimeTable(rows(400)) ?? '', /uuid-1000-local\s+200\s+3,000\s+40\s+400\s+3\s+50\s+2,550\s+0\s+800/);
});

test('keep-alive: about one connection per VU agrees, one per request differs', () => {
  const at = (connects: number): MeasuredRow[] => [{ runId: 'age-7500-local', pool: null, skipped: null, skippedRounds: 0, rounds: [figures({ connects, requests: 90_000 })] }];
  assert.equal(describeKeepAliveClaim(at(7_500))?.verdict, SHAPE_VERDICT.AGREES);
  assert.match(
    describeKeepAliveClaim(at(7_500))?.text ?? '',
    /The post: with keep-alive, 7,500 VUs need about 7,500 ports, not one per request\. Here, age-7500-local: 7,500 connections for 90,000 requests/,
  );
  assert.equal(describeKeepAliveClaim(at(90_000))?.verdict, SHAPE_VERDICT.DIFFERS);
  assert.equal(describeKeepAliveClaim([]), null);
});

test("the post's rule at 7,500 and 10,000 VUs: p90 and failures from this machine, the post has no p90", () => {
  const rows: MeasuredRow[] = [
    { runId: 'uuid-7500-local', pool: 300, skipped: null, skippedRounds: 0, rounds: [figures({ p90Ms: 420 }), figures({ p90Ms: 460 })] },
    {
      runId: 'uuid-10000-local',
      pool: 300,
      skipped: null,
      skippedRounds: 0,
      rounds: [figures({ p90Ms: 700, failed: 3, postRulePassed: false }), figures({ p90Ms: 480, postRulePassed: true })],
    },
  ];
  const lines = describePostRule(rows);
  assert.match(lines[0] ?? '', /publishes no p90/);
  assert.match(lines[1] ?? '', /^uuid-7500-local, pool 300: p90 440 \(420–460\) ms, 0 failed: p\(90\)<500 held in every run\.$/);
  assert.match(lines[2] ?? '', /^uuid-10000-local, pool 300: p90 590 \(480–700\) ms, 3 \/ 0 failed: p\(90\)<500 held in 1 of 2 runs\.$/);
});

test("the table: the post's row, then one per pool measured, medians, the longest max, failures added, skips as dashes", () => {
  const measured = groupMeasurements([
    { runId: 'uuid-1000-local', pool: 200, round: 0, figures: figures({ rps: 9_000, p90Ms: 100, maxMs: 900, failed: 1 }), skipped: null },
    { runId: 'uuid-1000-local', pool: 200, round: 1, figures: figures({ rps: 11_000, p90Ms: 120, maxMs: 1_900, failed: 2, postRulePassed: false }), skipped: null },
    { runId: 'uuid-1000-local', pool: 20, round: 0, figures: null, skipped: 'PostgreSQL missing' },
  ]);
  const table = renderSeedTable(
    measured,
    SEED_RUNS.filter((r) => r.id === 'uuid-1000-local'),
  );
  const lines = table.split('\n');
  assert.match(lines[0] ?? '', /run\s+side\s+pool\s+req\/s\s+p50 ms\s+p90 ms\s+p95 ms\s+p99 ms\s+max ms\s+failed\s+p\(90\)<500/);
  assert.match(lines[2] ?? '', /uuid-1000-local\s+post\s+200\s+9,326\s+53\s+-\s+113\s+296\s+15,700\s+55\s+-/);
  assert.match(lines[3] ?? '', /uuid-1000-local\s+here\s+200\s+10,000\s+10\s+110\s+30\s+40\s+1,900\s+3\s+1 of 2 pass/);
  assert.match(lines[4] ?? '', /uuid-1000-local\s+here \(skipped\)\s+20(\s+-){8}/);
  const partly = groupMeasurements([
    { runId: 'uuid-1000-local', pool: 200, round: 0, figures: figures(), skipped: null },
    { runId: 'uuid-1000-local', pool: 200, round: 1, figures: null, skipped: 'the server did not start' },
    { runId: 'uuid-1000-local', pool: 20, round: 0, figures: null, skipped: 'PostgreSQL missing' },
  ]);
  assert.deepEqual(renderSkips(partly), [
    "  uuid-1000-local, pool 200: 1 of 2 rounds did not run, the figures are the other rounds': the server did not start",
    '  uuid-1000-local, pool 20: skipped: PostgreSQL missing',
  ]);
});

test("socketlab bench seed: --reference prints the post's figures, bad flags are one line and exit 2", async (t) => {
  if (!existsSync(fileURLToPath(new URL('../../bench/seed.js', import.meta.url)))) {
    t.skip('dist/bench/seed.js is not built');
    return;
  }
  const reference = await runCli(['bench', 'seed', '--reference']);
  assert.equal(reference.code, 0, reference.stderr);
  for (const run of POST_RUNS) assert.match(reference.stdout, new RegExp(`${run.id}\\s+post\\s+\\S+\\s+${run.rps.toLocaleString('en-US')}\\s`), run.id);
  assert.match(reference.stdout, /16 GB/);
  for (const args of [['--bogus'], ['--only', 'uuid-1000'], ['--rounds', '1'], ['--duration', 'soon']]) {
    const bad = await runCli(['bench', 'seed', ...args]);
    assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.equal(bad.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line, got ${bad.stderr}`);
    assert.equal(bad.stdout, '');
  }
  const help = await runCli(['bench', 'seed', '--', '--help']);
  assert.equal(help.code, 0);
  for (const run of SEED_RUNS) assert.match(help.stdout, new RegExp(run.id), `--help names ${run.id}`);
});

test('every bench program refuses to overwrite an existing --json file without --force, before it measures', async (t) => {
  if (!existsSync(fileURLToPath(new URL('../../bench/seed.js', import.meta.url)))) {
    t.skip('dist/bench is not built');
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'socketlab-bench-json-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kept = path.join(dir, 'kept.json');
  writeFileSync(kept, '{"mine":true}\n');
  for (const name of ['parser', 'serve', 'load', 'db', 'models', 'metrics-overhead', 'profile', 'seed']) {
    const refused = await runCli(['bench', name, '--', '--json', kept]);
    assert.equal(refused.code, 2, `${name}: ${refused.stderr}`);
    assert.match(refused.stderr, /exists already: add --force/, name);
    assert.equal(refused.stderr.trim().split('\n').length, 1, `${name}: one line, got ${refused.stderr}`);
    const missing = await runCli(['bench', name, '--', '--json', path.join(dir, 'no-such-folder', 'x.json')]);
    assert.equal(missing.code, 2, `${name}: ${missing.stderr}`);
    assert.match(missing.stderr, /its folder does not exist/, name);
  }
  assert.equal(readFileSync(kept, 'utf8'), '{"mine":true}\n', 'the file is untouched');
});
