/**
 * The seed's scenarios on this machine, printed beside the seed's published figures.
 *
 * The seed measured an 8-core machine running a .NET service with k6 (closed model):
 * compute-only /age at 1,000 virtual users; /uuid (one PostgreSQL query) at 1,000, 5,000 and
 * 7,500; and /uuid from a "remote" client over Wi-Fi. Here the same scenarios run against
 * `socketlab serve --db embedded --pool 20` (the loop model, a pool of 20 with no pool timeout,
 * as the seed's) driven by `socketlab load` in its closed model, reporting k6's p90. The
 * "remote" client runs in a network namespace behind a veth pair shaped like a slow link
 * (tbf, plus netem or a delaying relay: src/labs/link-kit.ts, as lab 8 builds it); that row
 * needs root, iproute2 and tc, and says so when they are missing.
 *
 * The seed's figures are reference data from another machine, runtime and load generator, so
 * read the shape: how far /uuid falls below /age, how p90 grows from 1,000 to 7,500 users while
 * throughput stays flat (the requests queue for the pool's 20 connections), and what a slow
 * link does. The table below the figures says how the two machines differ.
 *
 * Run: node dist/bench/seed.js [--quick] [--duration 15s] [--workers 1] [--only uuid-1000,...]
 *      [--json FILE] [--reference]
 *   --quick       3 s per scenario instead of 15 s (a shorter warm-up too)
 *   --duration D  length of each measured run
 *   --workers N   load generator threads (default 1: the server and PostgreSQL need the cores)
 *   --only IDS    run only these scenarios (age-1000, uuid-1000, uuid-5000, uuid-7500, remote-1000)
 *   --json FILE   also write the scenarios, the measurements and the machine as JSON
 *   --reference   print the seed's figures and exit, without running anything
 */
import { writeFileSync } from 'node:fs';
import { booleanFlag, parseDurationFlag, parseFlags, parseIntegerFlag, stringFlag, type ParsedFlags } from '../src/cli/args.js';
import { isLabError, usageError } from '../src/errors.js';
import { describeMachine, summarizeMachine } from '../src/labs/machine.js';
import { runLoad, type LoadResult } from '../src/load/index.js';
import { fdLimitFrom, readLimits } from '../src/metrics/process-stats.js';
import { SEED_SCENARIOS, renderMachineComparison, renderSeedComparison, renderShapeComparison, renderSkips, type SeedMeasurement, type SeedScenario, type SeedSetup } from '../src/report/seed.js';
import { startServeProcess, type ServerProcess } from '../src/server/serve-process.js';
import { findPgBinaries } from '../src/db/index.js';
import { hasCommand } from '../src/labs/kit.js';
import { createNamespace, namespaceUnavailableReason } from '../src/labs/netns.js';
import { createVeth, DELAY_METHOD, shapeLink, type LinkShape, type ShapedLink } from '../src/labs/link-kit.js';
import { startDelayRelay } from '../src/labs/delay-relay.js';
import { startLoadProcess } from '../src/labs/load-process.js';
import type { LabContext, Resource } from '../src/labs/types.js';

const SERVE_ARGS = ['--db', 'embedded', '--pool', '20'] as const;
const DURATION = { QUICK_MS: 3_000, FULL_MS: 15_000, WARMUP_QUICK_MS: 1_000, WARMUP_FULL_MS: 3_000 } as const;
/** Descriptors this process needs beyond one per VU: stdio, the event loop, worker threads. */
const FD_HEADROOM = 200;
/**
 * The "remote" client's link: lab 8's (4 Mbit/s each way, +40 ms round trip), a slow Wi-Fi.
 * The seed did not publish its Wi-Fi's rate or round trip, so this row compares where the
 * bottleneck sits (the link, not the pool), not the numbers.
 */
const SEED_LINK = { rateMbit: 4, rttMs: 40, burst: '8kb', queueLatency: '300ms' } as const satisfies LinkShape;

/** The flags, checked the way every socketlab command checks them: a bad one is one line and exit 2. */
function readOptions(): { values: ParsedFlags['values']; quick: boolean; durationMs: number; workers: number; scenarios: readonly SeedScenario[] } {
  const { values, help } = parseFlags('bench seed', process.argv.slice(2), {
    quick: { type: 'boolean' },
    duration: { type: 'string' },
    workers: { type: 'string' },
    only: { type: 'string' },
    json: { type: 'string' },
    reference: { type: 'boolean' },
  });
  if (help) {
    process.stdout.write('Usage: node dist/bench/seed.js [--quick] [--duration 15s] [--workers 1] [--only IDS] [--json FILE] [--reference]\n(socketlab bench seed --help says more)\n');
    process.exit(0);
  }
  const quick = booleanFlag(values, 'quick');
  const durationMs = parseDurationFlag('duration', stringFlag(values, 'duration'), quick ? DURATION.QUICK_MS : DURATION.FULL_MS);
  if (durationMs <= 0) throw usageError('--duration must be longer than zero');
  const workers = parseIntegerFlag('workers', stringFlag(values, 'workers'), 1, 1, 16);
  const only = stringFlag(values, 'only')?.split(',') ?? null;
  for (const id of only ?? []) if (!SEED_SCENARIOS.some((s) => s.id === id)) throw usageError(`--only: no scenario "${id}" (choose from ${SEED_SCENARIOS.map((s) => s.id).join(', ')})`);
  return { values, quick, durationMs, workers, scenarios: SEED_SCENARIOS.filter((s) => only === null || only.includes(s.id)) };
}

const { values, quick, durationMs, workers, scenarios } = (() => {
  try {
    return readOptions();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(isLabError(error) ? error.exitCode : 1);
  }
})();

async function main(): Promise<void> {
  const machine = describeMachine();
  const setup: SeedSetup = {
    server: `socketlab serve ${SERVE_ARGS.join(' ')} (loop model, one process, no pool timeout)`,
    loadGenerator: `socketlab load, closed model, ${workers} worker thread${workers === 1 ? '' : 's'}, ${durationMs / 1000} s per scenario, on the same machine`,
    link: `a network namespace behind a veth pair, tbf ${SEED_LINK.rateMbit} Mbit/s each way, +${SEED_LINK.rttMs} ms round trip`,
  };
  if (booleanFlag(values, 'reference')) {
    process.stdout.write(`The seed's published figures (8 cores, .NET, k6):\n\n${renderSeedComparison(null, scenarios)}\n`);
    return;
  }
  process.stdout.write(`The seed's scenarios on ${summarizeMachine(machine)}${quick ? ' (--quick)' : ''}\n\n`);

  const measured: SeedMeasurement[] = [];
  const local = scenarios.filter((s) => !s.remote);
  const needsDb = local.some((s) => s.pathTemplate.startsWith('/uuid'));
  const dbMissing = needsDb && findPgBinaries() === null ? 'PostgreSQL server binaries were not found (apt-get install postgresql)' : null;
  let server: ServerProcess | null = null;
  try {
    server = await startServeProcess(dbMissing === null ? [...SERVE_ARGS] : [], { startTimeoutMs: 60_000 });
    process.stdout.write(`  server: ${server.banner}\n`);
    await warmUp(server, dbMissing === null);
    for (const scenario of local) {
      if (dbMissing !== null && scenario.pathTemplate.startsWith('/uuid')) {
        measured.push(skipped(scenario, dbMissing));
        continue;
      }
      const fdProblem = fdShortfall(scenario.vus);
      if (fdProblem !== null) {
        measured.push(skipped(scenario, fdProblem));
        continue;
      }
      measured.push(await measure(server, scenario));
    }
  } finally {
    await server?.stop();
  }
  for (const scenario of scenarios.filter((s) => s.remote)) {
    const { measurement, link } = await measureRemote(scenario);
    measured.push(measurement);
    if (link !== null) setup.link = `${setup.link} (delay by ${link.delayMethod === DELAY_METHOD.NETEM ? 'netem' : 'a delaying relay: netem is not in this kernel'})`;
    else setup.link = `not run here: ${measurement.skipped ?? ''}`;
  }

  process.stdout.write(`\n${renderSeedComparison(measured, scenarios)}\n\n`);
  for (const line of renderSkips(measured, scenarios)) process.stdout.write(`${line}\n`);
  process.stdout.write(`\nHow the machines differ:\n\n${renderMachineComparison(machine, setup)}\n\n`);
  const shape = renderShapeComparison(measured, scenarios);
  process.stdout.write(`The seed is reference data from another machine and runtime: compare shapes, not absolutes.\n${shape.map((l) => `${l}\n`).join('')}`);
  const jsonPath = stringFlag(values, 'json');
  if (jsonPath !== undefined) {
    writeFileSync(jsonPath, `${JSON.stringify({ schema: 'socketlab.seed-bench/1', machine, setup, quick, durationMs, scenarios, measured }, null, 2)}\n`);
    process.stdout.write(`\nWrote ${jsonPath}\n`);
  }
}

/** A short run of each route first, so the JIT has compiled the hot path and the pool is open. */
async function warmUp(server: ServerProcess, withDb: boolean): Promise<void> {
  const ms = quick ? DURATION.WARMUP_QUICK_MS : DURATION.WARMUP_FULL_MS;
  await runLoad({ url: `${server.url}/age?birthdate=1993-05-01`, vus: 50, durationMs: ms });
  if (withDb) await runLoad({ url: `${server.url}/uuid/1`, pathTemplate: '/uuid/{1..1000}', vus: 50, durationMs: ms });
}

async function measure(server: ServerProcess, scenario: SeedScenario): Promise<SeedMeasurement> {
  const label = `${scenario.scenario}, ${scenario.vus.toLocaleString('en-US')} VUs`;
  const tty = process.stdout.isTTY === true;
  const result: LoadResult = await runLoad(
    { url: `${server.url}${scenario.pathTemplate.replace(/\{.*\}/, '1')}`, pathTemplate: scenario.pathTemplate, vus: scenario.vus, durationMs, workers },
    {
      onProgress: (p) => {
        if (tty) process.stdout.write(`\r  ${label}: ${Math.round(p.elapsedMs / 1000)} s, ${Math.round(p.rps).toLocaleString('en-US')} req/s   `);
      },
    },
  );
  const summary = result.summary;
  const total = summary.latency.total;
  process.stdout.write(`${tty ? '\r' : ''}  ${label}: ${Math.round(summary.rps).toLocaleString('en-US')} req/s, p90 ${total.p90Ms} ms, max ${total.maxMs} ms, ${summary.failed} failed\n`);
  return { id: scenario.id, rps: summary.rps, p90Ms: total.p90Ms, maxMs: total.maxMs, failed: summary.failed, skipped: null };
}

function skipped(scenario: SeedScenario, reason: string): SeedMeasurement {
  return { id: scenario.id, rps: null, p90Ms: null, maxMs: null, failed: null, skipped: reason };
}

/** Every VU holds a connection, and this process (all its worker threads) one descriptor per connection. */
function fdShortfall(vus: number): string | null {
  const limits = readLimits(process.pid);
  const soft = limits === null ? null : fdLimitFrom(limits)?.soft;
  if (typeof soft !== 'number') return null;
  return soft >= vus + FD_HEADROOM ? null : `RLIMIT_NOFILE is ${soft}, ${vus} VUs need at least ${vus + FD_HEADROOM} (raise it: ulimit -n ${vus * 2})`;
}

/**
 * The "remote" row: the client in a network namespace of its own, joined to this one by a
 * veth pair shaped like a slow link (src/labs/link-kit.ts, as lab 8 builds it), against a
 * server listening on the host end of the pair. The client runs as its own process, because
 * `ip netns exec` moves a process, not a thread, into the namespace.
 */
async function measureRemote(scenario: SeedScenario): Promise<{ measurement: SeedMeasurement; link: ShapedLink | null }> {
  const reason = (await namespaceUnavailableReason()) ?? (hasCommand('tc') ? null : 'the tc command (iproute2) is not installed');
  if (reason !== null) return { measurement: skipped(scenario, reason), link: null };
  if (findPgBinaries() === null) return { measurement: skipped(scenario, 'PostgreSQL server binaries were not found (apt-get install postgresql)'), link: null };
  const resources = createResourceScope();
  // Ctrl-C would otherwise leave the namespace and the veth behind: remove them first.
  const onSigint = (): void => void resources.stopAll().finally(() => process.exit(130));
  process.once('SIGINT', onSigint);
  try {
    const namespace = await createNamespace(resources.lab, 'seed');
    const veth = await createVeth(resources.lab, namespace);
    const link = await shapeLink(veth, SEED_LINK);
    const host = veth.hostAddress;
    const server = await startServeProcess(['--host', host, ...SERVE_ARGS], { startTimeoutMs: 60_000 });
    resources.lab.track({ name: `socketlab serve pid ${server.pid}`, stop: async () => void (await server.stop()) });
    let port = server.port;
    if (link.delayMethod === DELAY_METHOD.RELAY) {
      const relay = await startDelayRelay({ listenHost: host, target: { host, port: server.port }, oneWayDelayMs: SEED_LINK.rttMs / 2 });
      resources.lab.track({ name: `delay relay on ${host}:${relay.port}`, stop: () => relay.close() });
      port = relay.port;
    }
    // Warm the server from this side of the link: the JIT and the pool, not the link, are what a warm-up is for.
    await runLoad({ url: `http://${host}:${server.port}/uuid/1`, pathTemplate: '/uuid/{1..1000}', vus: 50, durationMs: quick ? DURATION.WARMUP_QUICK_MS : DURATION.WARMUP_FULL_MS });
    const label = `${scenario.scenario}, ${scenario.vus.toLocaleString('en-US')} VUs`;
    process.stdout.write(`  ${label}: running in namespace ${namespace.name} …\n`);
    const client = startLoadProcess(resources.lab, [`http://${host}:${port}/uuid/1`, '--path-template', scenario.pathTemplate, '--vus', String(scenario.vus), '--duration', `${durationMs}ms`], {
      namespace: namespace.name,
      deadlineMs: durationMs + 90_000,
    });
    const summary = (await client.result).summary;
    const total = summary.latency.total;
    process.stdout.write(`  ${label}: ${Math.round(summary.rps).toLocaleString('en-US')} req/s, p90 ${total.p90Ms} ms, max ${total.maxMs} ms, ${summary.failed} failed\n`);
    return { measurement: { id: scenario.id, rps: summary.rps, p90Ms: total.p90Ms, maxMs: total.maxMs, failed: summary.failed, skipped: null }, link };
  } finally {
    process.off('SIGINT', onSigint);
    await resources.stopAll();
  }
}

/**
 * The lab helpers (netns, link-kit, load-process) register what they create with a lab so
 * that it is removed however the lab ends; outside a lab, this scope plays that part and
 * stops everything, last created first, when the remote row is done.
 */
function createResourceScope(): { lab: LabContext; stopAll(): Promise<void> } {
  const resources: Resource[] = [];
  const controller = new AbortController();
  const lab: LabContext = {
    quick,
    signal: controller.signal,
    findings: {},
    step: async (_title, body) => body({ progress: () => {}, signal: controller.signal }),
    skip: () => {},
    say: () => {},
    track: (resource) => {
      resources.push(resource);
      return resource;
    },
    release: async (resource) => {
      const index = resources.indexOf(resource);
      if (index !== -1) resources.splice(index, 1);
      await resource.stop();
    },
  };
  return {
    lab,
    async stopAll() {
      for (const resource of resources.splice(0).reverse()) {
        await resource.stop().catch((error: unknown) => process.stderr.write(`could not stop ${resource.name}: ${String(error)}\n`));
      }
    },
  };
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
