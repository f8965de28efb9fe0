/**
 * The post this project reproduces, as data: its machine and its seven load runs, copied from
 * its tables (../shared/seed/figures.json, checked against that file by
 * test/report/post-figures.test.ts). A field the post did not publish is absent, never
 * guessed: the post gives p50/p95/p99 and max, never p90, so no p90 appears here.
 */

export interface PostRun {
  /** The id in figures.json: route, VUs, local or remote. */
  id: string;
  route: 'age' | 'uuid';
  vus: number;
  /** Over the post's Wi-Fi from a second laptop. */
  remote: boolean;
  rps: number;
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
  /** The post marks this run's p99 as read off a chart, not a table. */
  p99Approximate?: boolean;
  maxMs?: number;
  avgMs?: number;
  failures?: number;
  /** What the post names as the bottleneck of this run, in its words. */
  bottleneck?: string;
}

/** The post's machine and set-up, as it describes them. */
export const POST_MACHINE = {
  cores: 8,
  memoryGb: 16,
  runtime: '.NET (Kestrel), run under a profiler',
  loadGenerator: 'k6, closed model (virtual users), on the same machine unless remote',
  remoteLink: 'a second laptop over Wi-Fi',
  /** Npgsql's pool maximum in each run. */
  poolMaxConnections: { at1000Vus: 200, from5000Vus: 300 },
  runMinutes: 6,
} as const;

/** The post's pass rule for a run. */
export const POST_RULE = 'p(90)<500' as const;

export const POST_RUNS: readonly PostRun[] = [
  { id: 'age-1000-local', route: 'age', vus: 1000, remote: false, rps: 28_807, p50Ms: 19, p95Ms: 35, p99Ms: 50, maxMs: 2300, failures: 0, bottleneck: 'Kernel + Kestrel' },
  { id: 'age-7500-local', route: 'age', vus: 7500, remote: false, rps: 28_871, p50Ms: 40, p95Ms: 160, p99Ms: 331 },
  {
    id: 'uuid-1000-local',
    route: 'uuid',
    vus: 1000,
    remote: false,
    rps: 9_326,
    p50Ms: 53,
    p95Ms: 113,
    p99Ms: 296,
    maxMs: 15_700,
    failures: 55,
    bottleneck: 'Postgres + connection pool',
  },
  { id: 'uuid-5000-local', route: 'uuid', vus: 5000, remote: false, rps: 14_906, p50Ms: 172, p95Ms: 365, p99Ms: 527, maxMs: 2450, failures: 0 },
  { id: 'uuid-7500-local', route: 'uuid', vus: 7500, remote: false, rps: 14_228, p50Ms: 263, p95Ms: 505, p99Ms: 673, maxMs: 2180, failures: 0 },
  {
    id: 'uuid-1000-remote',
    route: 'uuid',
    vus: 1000,
    remote: true,
    rps: 4_584,
    p50Ms: 123,
    p95Ms: 251,
    p99Ms: 310,
    p99Approximate: true,
    maxMs: 5700,
    failures: 2,
    bottleneck: 'Wi-Fi network',
  },
  { id: 'uuid-5000-remote', route: 'uuid', vus: 5000, remote: true, rps: 2_717, p50Ms: 460, p95Ms: 4450, p99Ms: 6410, maxMs: 15_800, avgMs: 1100, failures: 0 },
];

/** Npgsql's pool size in a run of the post: 200 connections at 1,000 VUs, 300 from 5,000. */
export function postPoolSize(vus: number): number {
  return vus >= 5000 ? POST_MACHINE.poolMaxConnections.from5000Vus : POST_MACHINE.poolMaxConnections.at1000Vus;
}

/** One run of the post by id; throws on an id that is not there (a typo is a bug, not a blank). */
export function postRun(id: string): PostRun {
  const run = POST_RUNS.find((r) => r.id === id);
  if (run === undefined) throw new RangeError(`the post has no run "${id}"`);
  return run;
}
