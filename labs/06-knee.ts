/**
 * Lab 6, the knee: sweep the number of users and watch throughput flatten while latency
 * climbs; check every step against Little's law.
 */
import os from 'node:os';
import { findPgBinaries, installHint, type EmbeddedCluster } from '../src/db/index.js';
import type { LoadResult } from '../src/load/index.js';
import { ms, runLabLoad, startLabDatabase, startLabServer } from '../src/labs/kit.js';
import { AXIS, lineChart, valueWithRuns } from '../src/labs/chart-kit.js';
import { startCpuWindow } from '../src/labs/cpu-window.js';
import {
  checkLittle,
  comparePeaks,
  findKnee,
  KNEE,
  predictKnee,
  readKnee,
  readLittle,
  readPastKnee,
  readPeakCpu,
  type EndpointPeak,
  type Knee,
  type LittleCheck,
  type SweepStep,
  type SweepStepRuns,
} from '../src/labs/knee-kit.js';
import type { ChartDeclaration, LabContext, LabDefinition, LabSettings, StepContext } from '../src/labs/types.js';
import type { ServerProcess } from '../src/labs/serve-process.js';

interface Settings {
  /** Virtual users per step, rising, per endpoint. */
  vus: { readonly age: readonly number[]; readonly uuid: readonly number[] };
  durationMs: number;
  /**
   * Load generator threads, the same for every step so that steps compare like with like.
   * One: the generator runs on the server's machine, and on two cores a second generator
   * thread takes its core from the server (measured in docs/load.md, "Workers"); one thread
   * holds 10,000 connections within RLIMIT_NOFILE (20,000 here).
   */
  workers: number;
}

const SETTINGS: LabSettings<Settings> = {
  // The quick sweeps reach a few times each endpoint's N* as measured on the 2-core machine
  // (≈ 330 users for /age, 120 for /uuid): far enough past the knee to see what throughput
  // and latency do there in a few seconds. The full sweep, 10 to 10,000 users, shows the rest:
  // on two shared cores, throughput sags well past the knee. /uuid goes to 800: with the
  // faster request path its 1 s steps at 200 and 400 users came within 6% of each other, so a
  // sweep that stopped at 400 sometimes found its knee at its last step.
  quick: { vus: { age: [10, 40, 160, 480, 960, 1920], uuid: [10, 30, 100, 200, 400, 800] }, durationMs: 1000, workers: 1 },
  full: { vus: { age: [10, 30, 100, 300, 1000, 3000, 10_000], uuid: [10, 30, 100, 300, 1000, 3000, 10_000] }, durationMs: 8000, workers: 1 },
};

const SWEEP = {
  /**
   * Each user pauses this long after every answer. Without a pause one user already keeps
   * this server busy on loopback (a round trip takes tens of µs), and the curve would be
   * flat from the first step; real users think, and the pause makes the rising part of the
   * curve visible: X = N / (R + Z) grows with N until the server is saturated.
   */
  THINK_MS: 5,
  /**
   * The sweep runs twice and each step keeps its faster run. Other work on a shared machine
   * (a compiler, another test) only ever takes CPU away, so the faster of two runs some
   * seconds apart is the better measure of what this server can do (hyperfine's reasoning
   * for reporting the minimum time). Every run is in the table.
   */
  PASSES: 2,
  /** Two passes "disagree" when the faster is this many times the slower... */
  DISAGREEMENT: 1.15,
  /** ...and at most this many disputed steps per endpoint get a third run (bounded time). */
  TIE_BREAKS: 2,
  /**
   * Not recorded: a warm-up at the sweep's heaviest step before the first pass. Measured
   * here, 1 s runs taken before the server's and the generator's hot paths were optimised
   * for that many connections came out 10-20% slower than the same runs a few seconds later.
   */
  WARMUP_MS: 1000,
  /** 10,000 connects at once must not overflow the accept queue (that is lab 3's subject). */
  BACKLOG: 4096,
} as const;

const CORES = os.availableParallelism();

/** Little's law "held" when the worst step is within this many % of N = X(R + Z). */
const LITTLE_HELD_PERCENT = 10;

const ENDPOINTS = {
  age: { path: '/age?birthdate=1993-05-01', template: null, what: 'compute only' },
  uuid: { path: '/uuid/1', template: '/uuid/{1..1000}', what: 'one Postgres query' },
} as const;

type EndpointKey = keyof typeof ENDPOINTS;

interface MeasuredStep extends SweepStepRuns, LittleCheck {
  /** Which pass (1-based) this step's numbers come from. */
  pass: number;
  failed: number;
  serverCpuPercent: number | null;
  generatorCpuPercent: number | null;
  postgresCpuPercent: number | null;
  /** What everything else on the machine used meanwhile (% of one core; 100 per core): the noise. */
  othersCpuPercent: number | null;
}

interface Sweep {
  endpoint: EndpointKey;
  steps: MeasuredStep[];
  knee: Knee;
  predictedKneeVus: number;
}

export const lab: LabDefinition<Settings> = {
  id: 'knee',
  number: 6,
  title: 'The knee of the curve',
  layer: '1,000 → 10,000',
  summary: "a sweep of virtual users on /age and /uuid: where throughput stops growing and latency starts; Little's law checked",
  intro: `Add users to a server and, at first, throughput grows with them: each user's requests find the
server partly idle. Once the server is busy all the time, queueing theory says every further
user only adds to the queue: throughput stops growing (on a machine whose cores the load
generator shares, it can even fall) while latency grows with the users. The point where the
curve bends is the knee; past it, "more users" means "slower", not "more work done". You will
sweep users on /age (compute only) and /uuid (one Postgres query), each pausing ${SWEEP.THINK_MS} ms between
requests as real users do, find each knee, see what this machine does past it, and check at
every step that users = throughput × (latency + think), Little's law, which any queue obeys.`,
  settings: SETTINGS,

  async run(lab: LabContext, settings: Settings) {
    const withDb = findPgBinaries() !== null;
    const pg = withDb ? await startLabDatabase(lab) : null;
    // --pool-batch off: the /uuid knee shown is the one a pool sets when each lookup holds a
    // connection (lab 5 lifts it with batch mode).
    // --pool-queue off: past the knee thousands of users queue for the pool, and the sweep shows
    // that queue growing; serve's default bound (1,024) would answer the rest 503 instead.
    const server = await startLabServer(lab, ['--backlog', String(SWEEP.BACKLOG), ...(pg === null ? [] : ['--db', pg.url, '--pool-queue', 'off', '--pool-batch', 'off'])]);
    lab.findings.thinkMs = SWEEP.THINK_MS;
    lab.findings.vus = { age: [...settings.vus.age], uuid: [...settings.vus.uuid] };
    lab.findings.series = {};
    const sweeps: Sweep[] = [];

    for (const endpoint of Object.keys(ENDPOINTS) as EndpointKey[]) {
      if (endpoint === 'uuid' && pg === null) {
        const reason = `PostgreSQL server binaries were not found: ${installHint()}`;
        lab.skip('/uuid: the sweep', reason);
        lab.findings.uuid = null;
        lab.findings.uuidReason = reason;
        continue;
      }
      const outcome = await lab.step(
        `/${endpoint} (${ENDPOINTS[endpoint].what}): ${settings.vus[endpoint].join(', ')} users, ${settings.durationMs / 1000} s each, ${SWEEP.PASSES} passes`,
        async (step) => {
          const sweep = await sweepEndpoint(step, server, pg, endpoint, settings);
          const { steps, knee } = sweep;
          const header = [
            'VUs',
            'req/s',
            'runs req/s',
            'p50 ms',
            'p95 ms',
            'p99 ms',
            'runs p99 ms',
            'X·(R+Z)',
            'Little error %',
            'think seen ms',
            'server CPU %',
            ...(endpoint === 'uuid' ? ['Postgres CPU %'] : []),
            'generator CPU %',
            'others CPU %',
            'failed',
          ];
          const rows = steps.map((s) => [
            s.vus,
            Math.round(s.rps),
            s.passRps.join(' / '),
            s.p50Ms,
            s.p95Ms,
            s.p99Ms,
            s.passP99Ms.join(' / '),
            s.users,
            s.errorPercent,
            s.effectiveThinkMs,
            s.serverCpuPercent,
            ...(endpoint === 'uuid' ? [s.postgresCpuPercent] : []),
            s.generatorCpuPercent,
            s.othersCpuPercent,
            s.failed,
          ]);
          const thirdRuns = steps.filter((s) => s.passRps.length > SWEEP.PASSES).length;
          return {
            table: { header, rows },
            reading: `${readKnee(steps, knee, sweep.predictedKneeVus)}
${readPastKnee(steps, knee)}
${readLittle(steps, LITTLE_HELD_PERCENT)}: the "think seen" column is the pause users
really had, ${SWEEP.THINK_MS} ms plus timer lateness and time spent inside the load generator, which shares the ${CORES} cores.
Each step ran ${SWEEP.PASSES} times${thirdRuns === 0 ? '' : ` (${thirdRuns === 1 ? 'one step' : `${thirdRuns} steps`} a third time, where the runs disagreed by over ${Math.round((SWEEP.DISAGREEMENT - 1) * 100)}%)`} and keeps its fastest run, whose
numbers fill the row: other work on the machine only ever slows a run down.${noiseNote(steps)}`,
            charts: sweepCharts(endpoint, steps, knee),
            measurements: { endpoint, thinkMs: SWEEP.THINK_MS, durationMs: settings.durationMs, workers: settings.workers, steps, knee, predictedKneeVus: sweep.predictedKneeVus },
          };
        },
      );
      const measured = outcome?.measurements as { steps: MeasuredStep[]; knee: Knee; predictedKneeVus: number } | undefined;
      if (measured === undefined) continue;
      sweeps.push({ endpoint, steps: measured.steps, knee: measured.knee, predictedKneeVus: measured.predictedKneeVus });
      lab.findings[endpoint] = {
        kneeVus: measured.knee.kneeVus,
        peakRps: measured.knee.peakRps,
        peakVus: measured.knee.peakVus,
        predictedKneeVus: measured.predictedKneeVus,
        pastKneeShares: measured.knee.pastKneeShares,
      };
      (lab.findings.series as Record<string, unknown>)[endpoint] = measured.steps.map((s) => ({
        vus: s.vus,
        rps: Math.round(s.rps),
        p50Ms: s.p50Ms,
        p95Ms: s.p95Ms,
        p99Ms: s.p99Ms,
        avgMs: s.avgMs,
        littleUsers: s.users,
        littleErrorPercent: s.errorPercent,
        othersCpuPercent: s.othersCpuPercent,
        serverCpuPercent: s.serverCpuPercent,
        generatorCpuPercent: s.generatorCpuPercent,
        failed: s.failed,
      }));
    }

    if (sweeps.length > 0) {
      await lab.step('Both knees, and who used the two cores', async () => {
        const rows = sweeps.map((sweep) => {
          const peak = sweep.steps.find((s) => s.vus === sweep.knee.peakVus) as MeasuredStep;
          const kneeStep = sweep.steps[sweep.knee.kneeIndex] as MeasuredStep;
          const last = sweep.steps[sweep.steps.length - 1] as MeasuredStep;
          return { sweep, peak, kneeStep, last };
        });
        const age = rows.find((r) => r.sweep.endpoint === 'age');
        const uuid = rows.find((r) => r.sweep.endpoint === 'uuid');
        const cpu = rows.map(({ sweep, peak }) =>
          readPeakCpu(
            {
              endpoint: sweep.endpoint,
              serverCpuPercent: peak.serverCpuPercent,
              postgresCpuPercent: peak.postgresCpuPercent,
              generatorCpuPercent: peak.generatorCpuPercent,
              othersCpuPercent: peak.othersCpuPercent,
            },
            CORES,
          ),
        );
        const peaks = age === undefined || uuid === undefined ? '' : `${comparePeaks(peakOf(age), peakOf(uuid))}\n`;
        return {
          table: {
            header: [
              'endpoint',
              'knee VUs',
              'predicted N*',
              'peak req/s',
              'peak runs req/s',
              'p99 at knee ms',
              'top step VUs',
              'p99 at top ms',
              'server CPU % at peak',
              'Postgres CPU %',
              'generator CPU %',
              'others CPU %',
            ],
            rows: rows.map(({ sweep, peak, kneeStep, last }) => [
              `/${sweep.endpoint}`,
              sweep.knee.kneeVus,
              sweep.predictedKneeVus,
              sweep.knee.peakRps,
              peak.passRps.join(' / '),
              kneeStep.p99Ms,
              last.vus,
              last.p99Ms,
              peak.serverCpuPercent,
              peak.postgresCpuPercent,
              peak.generatorCpuPercent,
              peak.othersCpuPercent,
            ]),
          },
          reading: `${peaks}${cpu.join('\n')}`,
          measurements: { knees: rows.map(({ sweep }) => ({ endpoint: sweep.endpoint, ...sweep.knee, predictedKneeVus: sweep.predictedKneeVus })) },
        };
      });
    }
  },
};

/**
 * One sweep drawn: throughput and the latency percentiles against the users, the knee
 * marked. Each point is the step's kept (fastest) run, the whisker every run of that step.
 */
function sweepCharts(endpoint: EndpointKey, steps: readonly MeasuredStep[], knee: Knee): ChartDeclaration[] {
  const markers = [{ x: knee.kneeVus, label: `knee ≈ ${knee.kneeVus} VUs` }];
  return [
    lineChart(
      {
        title: `Throughput against virtual users (/${endpoint})`,
        caption: 'Where the line flattens, more users no longer bring more requests: the server is saturated. Whiskers: every run of a step.',
      },
      { x: AXIS.VUS, y: AXIS.RPS },
      [{ name: 'req/s', points: steps.map((s) => ({ x: s.vus, y: valueWithRuns(s.rps, s.passRps) })) }],
      markers,
    ),
    lineChart(
      { title: `Latency percentiles against virtual users (/${endpoint})`, caption: "Past the knee, added users only wait longer: latency grows with the queue (Little's law)." },
      { x: AXIS.VUS, y: { ...AXIS.LATENCY, scale: 'auto' } },
      [
        { name: 'p50', points: steps.map((s) => ({ x: s.vus, y: s.p50Ms })) },
        { name: 'p95', points: steps.map((s) => ({ x: s.vus, y: s.p95Ms })) },
        { name: 'p99', points: steps.map((s) => ({ x: s.vus, y: valueWithRuns(s.p99Ms, s.passP99Ms) })) },
      ],
      markers,
    ),
  ];
}

async function sweepEndpoint(step: StepContext, server: ServerProcess, pg: EmbeddedCluster | null, endpoint: EndpointKey, settings: Settings): Promise<Sweep> {
  const spec = ENDPOINTS[endpoint];
  const load = (vus: number, durationMs: number, label: string): Promise<LoadResult> =>
    runLabLoad(
      step,
      {
        url: `${server.url}${spec.path}`,
        ...(spec.template === null ? {} : { pathTemplate: spec.template }),
        vus,
        durationMs,
        thinkMs: SWEEP.THINK_MS,
        workers: settings.workers,
        timeoutMs: 60_000,
      },
      label,
    );
  const measure = async (vus: number, label: string): Promise<MeasuredStep> => {
    const cpu = startCpuWindow({ pids: [server.pid, process.pid], ...(pg === null || endpoint !== 'uuid' ? {} : { childrenOf: [pg.postmasterPid] }) });
    const result = await load(vus, settings.durationMs, label);
    const usage = await cpu.stop();
    const s = result.summary;
    const measured: SweepStep = {
      vus,
      rps: s.rps,
      avgMs: ms(s.latency.total.avgMs),
      p50Ms: ms(s.latency.total.p50Ms),
      p95Ms: ms(s.latency.total.p95Ms),
      p99Ms: ms(s.latency.total.p99Ms),
    };
    return {
      ...measured,
      ...checkLittle(measured, SWEEP.THINK_MS),
      pass: 0,
      passRps: [],
      passP99Ms: [],
      failed: s.failed,
      serverCpuPercent: usage.percentOf(server.pid),
      generatorCpuPercent: usage.percentOf(process.pid),
      postgresCpuPercent: endpoint === 'uuid' ? usage.percentOfOthers([server.pid, process.pid]) : null,
      othersCpuPercent: usage.othersPercent,
    };
  };

  const sweepVus = settings.vus[endpoint];
  await load(sweepVus[sweepVus.length - 1] as number, SWEEP.WARMUP_MS, 'warm-up');
  // runs[i]: every run of step i, in the order taken.
  const runs: MeasuredStep[][] = sweepVus.map(() => []);
  for (let pass = 1; pass <= SWEEP.PASSES; pass++) {
    for (const [i, vus] of sweepVus.entries()) {
      (runs[i] as MeasuredStep[]).push({ ...(await measure(vus, `pass ${pass} of ${SWEEP.PASSES}, ${vus} VUs`)), pass });
    }
  }
  // Where two passes disagree, noise took one of them: a third run of the worst few decides.
  const spread = (i: number): number => {
    const rps = (runs[i] as MeasuredStep[]).map((r) => r.rps);
    return Math.max(...rps) / Math.max(1, Math.min(...rps));
  };
  const disputed = sweepVus
    .map((_, i) => i)
    .filter((i) => spread(i) > SWEEP.DISAGREEMENT)
    .sort((a, b) => spread(b) - spread(a))
    .slice(0, SWEEP.TIE_BREAKS);
  for (const i of disputed) {
    const vus = sweepVus[i] as number;
    (runs[i] as MeasuredStep[]).push({ ...(await measure(vus, `passes disagreed at ${vus} VUs: one more run`)), pass: (runs[i] as MeasuredStep[]).length + 1 });
  }
  // Per step, the fastest run, whole (its latencies and Little check belong to the same run).
  const steps = runs.map((stepRuns) => {
    const best = stepRuns.reduce((a, b) => (b.rps > a.rps ? b : a));
    return { ...best, passRps: stepRuns.map((r) => Math.round(r.rps)), passP99Ms: stepRuns.map((r) => r.p99Ms) };
  });
  const knee = findKnee(steps) as Knee;
  const first = steps[0] as MeasuredStep;
  return { endpoint, steps, knee, predictedKneeVus: predictKnee(knee.peakRps, first.avgMs, SWEEP.THINK_MS) };
}

/** A sweep's peak step, as the comparison of the two endpoints needs it. */
function peakOf({ sweep, peak }: { sweep: Sweep; peak: MeasuredStep }): EndpointPeak {
  return { endpoint: sweep.endpoint, peakRuns: peak.passRps, othersCpuPercent: peak.othersCpuPercent };
}

/** A sentence when other work took a real share of the machine during the kept runs. */
function noiseNote(steps: readonly MeasuredStep[]): string {
  const busiest = steps.reduce((a, b) => ((b.othersCpuPercent ?? 0) > (a.othersCpuPercent ?? 0) ? b : a));
  const others = busiest.othersCpuPercent ?? 0;
  if (others < KNEE.BUSY_MACHINE_PERCENT) return '';
  return `\nOther processes on this machine used up to ${others}% of a core (of ${CORES * 100}%) during these runs (at ${busiest.vus} users): where
a step falls short, some of the two cores were simply not the server's.`;
}
