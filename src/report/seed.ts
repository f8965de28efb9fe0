/**
 * The seed's published figures and how this machine's numbers are printed beside them
 * (bench/seed.ts runs the scenarios). The seed's numbers are reference data from another
 * machine, runtime and load generator: the table shows both and says how the machines differ,
 * so the reader compares shapes (where throughput falls, where p90 explodes), not absolutes.
 */
import type { MachineInfo } from '../labs/types.js';
import { formatBytes, renderTable, type Cell } from './table.js';

export interface SeedScenario {
  id: string;
  scenario: string;
  /** The path requested; `{1..1000}` picks a random id per request. */
  pathTemplate: string;
  vus: number;
  /** Over the slow link from a "remote" client. */
  remote: boolean;
  seed: { rps: number; p90Ms: number; maxMs: number | null };
  notes: string;
}

/** As published with the seed: an 8-core machine, .NET, k6 in its closed model. */
export const SEED_SCENARIOS: readonly SeedScenario[] = [
  { id: 'age-1000', scenario: 'compute-only (/age)', pathTemplate: '/age?birthdate=1993-05-01', vus: 1000, remote: false, seed: { rps: 21_000, p90Ms: 70, maxMs: null }, notes: '' },
  { id: 'uuid-1000', scenario: 'database (/uuid)', pathTemplate: '/uuid/{1..1000}', vus: 1000, remote: false, seed: { rps: 5_900, p90Ms: 240, maxMs: null }, notes: '' },
  { id: 'uuid-5000', scenario: 'database (/uuid)', pathTemplate: '/uuid/{1..1000}', vus: 5000, remote: false, seed: { rps: 5_100, p90Ms: 1_400, maxMs: null }, notes: '' },
  {
    id: 'uuid-7500',
    scenario: 'database (/uuid)',
    pathTemplate: '/uuid/{1..1000}',
    vus: 7500,
    remote: false,
    seed: { rps: 4_300, p90Ms: 2_600, maxMs: 15_700 },
    notes: 'requests waiting for a pooled connection',
  },
  { id: 'remote-1000', scenario: 'database over Wi-Fi ("remote")', pathTemplate: '/uuid/{1..1000}', vus: 1000, remote: true, seed: { rps: 1_150, p90Ms: 1_100, maxMs: null }, notes: 'bottleneck moved to the link' },
];

/** What is known of the seed's machine: its figures name the cores, the runtime and the generator only. */
export const SEED_MACHINE = {
  cores: 8,
  memory: 'not published',
  runtime: '.NET',
  server: 'the seed\'s .NET service and its connection pool',
  loadGenerator: 'k6, closed model (constant VUs)',
  link: 'Wi-Fi between two machines',
} as const;

/** One scenario as measured here; null fields when it was skipped. */
export interface SeedMeasurement {
  id: string;
  rps: number | null;
  p90Ms: number | null;
  maxMs: number | null;
  /** Failed requests, any kind. */
  failed: number | null;
  /** Why the scenario did not run here (a missing capability, a low RLIMIT_NOFILE). */
  skipped: string | null;
}

export interface SeedSetup {
  /** `socketlab serve` flags used. */
  server: string;
  /** The load generator and its settings. */
  loadGenerator: string;
  /** How the "remote" client reached the server, or why it could not. */
  link: string;
}

/**
 * The figures beside each other, a row per scenario: the seed's, then this machine's (left
 * out when `measured` is null, for printing the reference alone). A skipped scenario shows
 * dashes here; renderSkips says why.
 */
export function renderSeedComparison(measured: readonly SeedMeasurement[] | null, scenarios: readonly SeedScenario[] = SEED_SCENARIOS): string {
  if (measured === null) {
    return renderTable(
      ['scenario', 'VUs', 'seed req/s', 'seed p90 ms', 'seed max ms', 'notes'],
      scenarios.map((s) => [s.scenario, s.vus, s.seed.rps, s.seed.p90Ms, s.seed.maxMs, s.notes]),
    );
  }
  const rows: Cell[][] = scenarios.map((s) => {
    const m = measured.find((x) => x.id === s.id);
    const here = m === undefined || m.skipped !== null ? null : m;
    return [s.scenario, s.vus, s.seed.rps, here?.rps == null ? null : Math.round(here.rps), s.seed.p90Ms, here?.p90Ms == null ? null : round(here.p90Ms), s.seed.maxMs, here?.maxMs == null ? null : round(here.maxMs), here?.failed ?? null, s.notes];
  });
  return renderTable(['scenario', 'VUs', 'seed req/s', 'here req/s', 'seed p90 ms', 'here p90 ms', 'seed max ms', 'here max ms', 'here failed', 'seed notes'], rows);
}

/** How the two machines differ, as a table, from what the seed published and this machine's description. */
export function renderMachineComparison(machine: MachineInfo, setup: SeedSetup): string {
  const rows: Cell[][] = [
    ['cores', `${SEED_MACHINE.cores}`, `${machine.cores} (${machine.cpuModel})`],
    ['memory', SEED_MACHINE.memory, formatBytes(machine.memoryBytes)],
    ['runtime', SEED_MACHINE.runtime, `Node ${machine.node} on ${machine.kernel}`],
    ['server', SEED_MACHINE.server, setup.server],
    ['load generator', SEED_MACHINE.loadGenerator, setup.loadGenerator],
    ['"remote" client', SEED_MACHINE.link, setup.link],
  ];
  return renderTable(['', 'seed (published)', `here (${machine.hostname})`], rows);
}

/** Lines under the tables: what the skipped rows need. */
export function renderSkips(measured: readonly SeedMeasurement[], scenarios: readonly SeedScenario[] = SEED_SCENARIOS): string[] {
  return measured.filter((m) => m.skipped !== null).map((m) => `  ${scenarios.find((s) => s.id === m.id)?.scenario ?? m.id}, ${scenarios.find((s) => s.id === m.id)?.vus ?? '?'} VUs: skipped: ${m.skipped}`);
}

function round(value: number): number {
  return value >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
}

/**
 * The comparison that survives a change of machine: ratios within each side. Each line is
 * computed from both sides' numbers, and left out when a side is missing.
 */
export function renderShapeComparison(measured: readonly SeedMeasurement[], scenarios: readonly SeedScenario[] = SEED_SCENARIOS): string[] {
  const seed = (id: string): SeedScenario['seed'] | null => scenarios.find((s) => s.id === id)?.seed ?? null;
  const here = (id: string): SeedMeasurement | null => {
    const m = measured.find((x) => x.id === id);
    return m === undefined || m.skipped !== null || m.rps === null ? null : m;
  };
  const lines: string[] = [];
  const pct = (a: number, b: number): string => `${Math.round((a / b) * 100)}%`;
  const times = (a: number, b: number): string => `${(Math.round((a / b) * 10) / 10).toLocaleString('en-US')}x`;
  const [sAge, sUuid, sTop, hAge, hUuid, hTop] = [seed('age-1000'), seed('uuid-1000'), seed('uuid-7500'), here('age-1000'), here('uuid-1000'), here('uuid-7500')];
  if (sAge && sUuid && hAge && hUuid && hAge.rps && hUuid.rps) {
    lines.push(`One query per request: /uuid served ${pct(hUuid.rps, hAge.rps)} of /age's rate at 1,000 VUs here, ${pct(sUuid.rps, sAge.rps)} in the seed.`);
  }
  if (sUuid && sTop && hUuid && hTop && hUuid.rps && hTop.rps && hUuid.p90Ms && hTop.p90Ms) {
    const change = (a: number, b: number): string => `${a >= b ? '+' : ''}${Math.round(((a - b) / b) * 100)}%`;
    lines.push(`From 1,000 to 7,500 VUs on /uuid: p90 grew ${times(hTop.p90Ms, hUuid.p90Ms)} here and ${times(sTop.p90Ms, sUuid.p90Ms)} in the seed, while req/s changed ${change(hTop.rps, hUuid.rps)} here and ${change(sTop.rps, sUuid.rps)} in the seed.`);
    // The queueing reading holds only when the numbers say so: latency up a lot, work done not.
    if (hTop.p90Ms >= 2 * hUuid.p90Ms && hTop.rps <= 1.2 * hUuid.rps) {
      lines.push('Here as there, the added users waited in a queue (for the pool\'s 20 connections, then in the kernel) instead of adding work done.');
    }
  }
  const [sRemote, hRemote] = [seed('remote-1000'), here('remote-1000')];
  if (sUuid && sRemote && hUuid && hRemote && hUuid.rps && hRemote.rps) {
    lines.push(`Over the slow link, the same 1,000 users on /uuid made ${pct(hRemote.rps, hUuid.rps)} of the local rate here, ${pct(sRemote.rps, sUuid.rps)} in the seed: the link, not the pool, set the pace.`);
  }
  return lines;
}
