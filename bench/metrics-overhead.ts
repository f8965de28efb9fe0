/**
 * What the sampler costs, measured: each reading on its own, then the whole sampler at
 * 10 samples/s over a few live processes, on a worker thread and in-process, against the
 * target of 2% of one core.
 *
 *   node dist/bench/metrics-overhead.js [--duration 20s] [--connections 500] [--json FILE]
 *
 * The processes sampled are real: this process, a child server holding N loopback
 * connections, the child client holding the other ends (so the TCP table has 2N + 1
 * entries), and for the FD-kinds cost a child holding ~19,500 open FDs.
 * --json FILE writes every reading and every sampler run (bench/support/json-output.ts).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import os from 'node:os';
import { booleanFlag, parseDurationFlag, parseFlags, parseIntegerFlag, stringFlag } from '../src/cli/args.js';
import { readKernelCounters } from '../src/metrics/kernel-counters.js';
import { countFds, readContextSwitches, readFdLimit, readFdTargets, readProcessSample } from '../src/metrics/process-stats.js';
import { startSampler } from '../src/metrics/sampler.js';
import { createCapacityLookup, readListenQueues, readTcpSockets } from '../src/metrics/tcp-sockets.js';
import type { Series } from '../src/metrics/types.js';
import { formatNumber } from '../src/format/numbers.js';
import { renderTable } from '../src/format/table.js';
import { beginBenchRun, JSON_OUTPUT_FLAGS, writeBenchJson } from './support/json-output.js';

const TARGET_PERCENT = 2;
const STEADY_AFTER_MS = 3000;
const FD_HOG_COUNT = 19_500;

interface Child {
  process: ChildProcessWithoutNullStreams;
  pid: number;
  line(prefix: string): Promise<string>;
  kill(): Promise<void>;
}

function spawnScript(script: string): Child {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    pid: child.pid as number,
    line: (prefix) =>
      new Promise<string>((resolve, reject) => {
        const deadline = Date.now() + 30_000;
        const poll = (): void => {
          const found = out.split('\n').find((l) => l.startsWith(prefix));
          if (found !== undefined) resolve(found.slice(prefix.length));
          else if (Date.now() > deadline || child.exitCode !== null) reject(new Error(`child never printed "${prefix}": ${err}`));
          else setTimeout(poll, 20);
        };
        poll();
      }),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

const SERVER = `
const net = require('node:net');
const held = [];
const server = net.createServer((s) => { held.push(s); s.on('error', () => {}); });
server.listen({ port: 0, host: '127.0.0.1', backlog: 511 }, () => console.log('port ' + server.address().port));
`;
const CLIENT = (port: number, n: number): string => `
const net = require('node:net');
let open = 0;
for (let i = 0; i < ${n}; i++) {
  const c = net.connect(${port}, '127.0.0.1', () => { if (++open === ${n}) console.log('connected ' + open); });
  c.on('error', (e) => console.error(e.message));
}
`;
const FD_HOG = `
const fs = require('node:fs');
for (let i = 0; i < ${FD_HOG_COUNT}; i++) fs.openSync('/dev/null', 'r');
console.log('open ${FD_HOG_COUNT}');
setInterval(() => {}, 1 << 30);
`;

/** Median time of `fn` in µs over `runs` runs (after two warm-up runs). */
function timeMedianUs(fn: () => unknown, runs: number): number {
  fn();
  fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)] as number);
}

interface RunResult {
  label: string;
  series: Series;
  /** CPU of this whole process over the run (all threads), ms: a cross-check. */
  processCpuMs: number;
}

async function runSampler(label: string, pids: number[], ports: number[], thread: boolean, durationMs: number): Promise<RunResult> {
  const cpuBefore = process.cpuUsage();
  const sampler = startSampler({ pids, ports, intervalMs: 100, fdKinds: true, thread });
  await sampler.ready;
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const series = await sampler.stop();
  const cpu = process.cpuUsage(cpuBefore);
  return { label, series, processCpuMs: (cpu.user + cpu.system) / 1000 };
}

async function main(): Promise<void> {
  const { values } = parseFlags('bench metrics-overhead', process.argv.slice(2), { duration: { type: 'string' }, connections: { type: 'string' }, ...JSON_OUTPUT_FLAGS });
  const benchRun = beginBenchRun('metrics-overhead', { json: stringFlag(values, 'json'), force: booleanFlag(values, 'force') });
  const durationMs = parseDurationFlag('duration', stringFlag(values, 'duration'), 20_000);
  const connections = parseIntegerFlag('connections', stringFlag(values, 'connections'), 500, 1, 5000);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    `metrics overhead · ${os.type()} ${os.release()} · ${os.availableParallelism()} × ${cpu} · ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM · Node ${process.version}\n\n`,
  );

  const server = spawnScript(SERVER);
  const port = Number(await server.line('port '));
  const client = spawnScript(CLIENT(port, connections));
  await client.line('connected ');
  const hog = spawnScript(FD_HOG);
  await hog.line('open ');
  const children = [server, client, hog];

  try {
    // ── each reading on its own ──────────────────────────────────────────────
    const serverThreads = readProcessSample(server.pid).threads ?? 0;
    const tableSize = (() => {
      const table = readTcpSockets();
      return Array.isArray(table) ? table.length : 0;
    })();
    const hogFds = countFds(hog.pid) ?? 0;
    const rows: [string, number, string][] = [
      ['process: stat, status, FD count', timeMedianUs(() => readProcessSample(server.pid, { limits: false, contextSwitches: false }), 200), 'every sample'],
      ['process: context switches, all threads', timeMedianUs(() => readContextSwitches(server.pid), 200), `node server, ${serverThreads} threads`],
      ['process: RLIMIT_NOFILE', timeMedianUs(() => readFdLimit(server.pid), 200), 'once a second'],
      ['kernel counters (netstat + snmp)', timeMedianUs(() => readKernelCounters(), 200), '~300 counters'],
      ['FD count (stat of /proc/PID/fd)', timeMedianUs(() => countFds(hog.pid), 200), `${formatNumber(hogFds)} FDs`],
      ['FD kinds (readlink every FD)', timeMedianUs(() => readFdTargets(hog.pid), 5), `${formatNumber(hogFds)} FDs`],
      ['accept queues (listeners only)', timeMedianUs(() => readListenQueues([port]), 20), 'stops after the listeners'],
      ['TCP census (whole tcp + tcp6)', timeMedianUs(() => readTcpSockets(), 10), `${formatNumber(tableSize)} sockets`],
      [
        'accept-queue maximum (spawn ss)',
        timeMedianUs(() => {
          const listeners = readListenQueues([port]);
          if (Array.isArray(listeners)) createCapacityLookup().fill(listeners);
        }, 10),
        'once per listening socket',
      ],
    ];
    process.stdout.write('Each reading (median):\n');
    process.stdout.write(`${renderTable(['reading', 'µs', 'context'], rows)}\n\n`);

    // ── the sampler at 10 samples/s ──────────────────────────────────────────
    const pids = [process.pid, server.pid, client.pid];
    const runs: RunResult[] = [];
    runs.push(await runSampler('worker thread, 3 processes + 1 port', pids, [port], true, durationMs));
    runs.push(await runSampler('in-process, 3 processes + 1 port', pids, [port], false, durationMs));
    runs.push(await runSampler(`worker thread, + a ${formatNumber(hogFds)}-FD process`, [...pids, hog.pid], [port], true, durationMs));

    const summaryRows = runs.map((run) => {
      const o = run.series.overhead;
      const samples = run.series.samples;
      const census = samples.filter((s) => s.tcp !== null).length;
      const queues = samples.filter((s) => s.ports !== null).length;
      const kinds = samples.filter((s) => s.processes.some((p) => p.fdKinds !== null)).length;
      const costs = samples.map((s) => s.costUs).sort((a, b) => a - b);
      const p50 = costs[Math.floor(costs.length / 2)] ?? 0;
      const spent = o.threadCpuMs ?? o.busyMs;
      // Steady state: the first seconds pay one of every expensive reading (census, ss,
      // FD kinds) and a cold JIT; after that the budget spaces them out.
      const steady = samples.filter((s) => s.t >= STEADY_AFTER_MS);
      const steadyWall = steady.length > 1 ? (steady[steady.length - 1] as { t: number }).t - (steady[0] as { t: number }).t + 100 : 0;
      const steadyPercent = steadyWall > 0 ? Math.round((steady.reduce((sum, s) => sum + s.costUs, 0) / 1000 / steadyWall) * 10_000) / 100 : null;
      return [
        run.label,
        o.ticks,
        Math.round(spent),
        o.percentOfOneCore,
        steadyPercent,
        Math.round(run.processCpuMs),
        p50,
        `${queues}/${census}/${kinds}`,
        o.percentOfOneCore < TARGET_PERCENT ? 'under' : 'OVER',
      ] as const;
    });
    process.stdout.write(`The sampler at 10 samples/s for ${durationMs / 1000} s, ${formatNumber(connections * 2 + 1)} sockets in the table:\n`);
    process.stdout.write(
      `${renderTable(
        [
          'run',
          'samples',
          'sampler CPU ms',
          '% of a core',
          `% after ${STEADY_AFTER_MS / 1000} s`,
          'process CPU ms',
          'p50 sample µs',
          'queues/census/kinds',
          `< ${TARGET_PERCENT}%`,
        ],
        summaryRows.map((r) => [...r]),
      )}\n`,
    );
    const startup = runs[0]?.series.overhead.startupMs;
    process.stdout.write(
      `\nSampler CPU: the worker thread's own CPU time (/proc/thread-self/schedstat) in worker mode, the time inside samples in-process.\n` +
        `"% after ${STEADY_AFTER_MS / 1000} s": time inside samples once the first expensive readings and the JIT warm-up are past.\n` +
        `Readings: samples holding accept queues / a TCP census / FD kinds (each on its share of the 1% budget).\n` +
        `Worker start-up (isolate + modules) costs ${startup ?? '?'} ms of CPU once, outside the percentage.\n` +
        `"process CPU ms" is this whole bench process over the run (idle otherwise), all threads: it adds V8 helper threads and Node's own idle cost.\n`,
    );
    const columns = ['run', 'samples', 'samplerCpuMs', 'percentOfOneCore', 'percentAfterWarmup', 'processCpuMs', 'p50SampleUs', 'queuesCensusKinds', 'underTarget'] as const;
    writeBenchJson(
      stringFlag(values, 'json'),
      benchRun,
      { quick: durationMs < 20_000 || connections < 500 },
      {
        durationMs,
        connections,
        socketsInTable: connections * 2 + 1,
        fdHogCount: hogFds,
        targetPercent: TARGET_PERCENT,
        steadyAfterMs: STEADY_AFTER_MS,
        workerStartupMs: startup ?? null,
        readings: rows.map(([reading, us, context]) => ({ reading, us, context })),
        runs: summaryRows.map((r) => Object.fromEntries(columns.map((c, i) => [c, c === 'underTarget' ? r[i] === 'under' : r[i]]))),
      },
    );
  } finally {
    for (const child of children) await child.kill();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
