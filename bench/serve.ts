/**
 * End to end: socketlab serve against node:http and a naive fixed-response server, each
 * serving GET /age to wrk with 100 keep-alive connections, in the same run on this machine.
 *
 * Target (issue 16): socketlab >= 0.9x the naive server, the physical limit of one event loop
 * here (it parses nothing and writes fixed bytes). node:http is shown for scale; the older
 * target of 2.5x node:http is retired (issue 16: the naive server itself is only ~2x node:http
 * on this machine).
 *
 * Each server runs alone in its own process while it is measured; rounds interleave the
 * servers so that a change in the machine's state affects all of them, and the median round
 * is reported. Beside requests per second, each server's CPU per request (/proc, user +
 * system over the measured run): on a shared machine the first swings with what else runs,
 * the second much less. The load average is printed with every round.
 *
 * A second table (skip it with --no-close) runs a connection per request (wrk sends
 * Connection: close) against socketlab with its accept widened to 8 descriptors (the default
 * after a burst, accept-fanout.ts) and with 1, to show what the extra descriptors cost when a
 * lone connection wakes them all.
 *
 * Run: node dist/bench/serve.js [--duration 5] [--rounds 3] [--connections 100] [--no-close] [--json FILE]
 * --json FILE writes every round of every server, the medians and the ratios printed
 * (bench/support/json-output.ts), which docs/benchmarks.md is built from.
 */
import { parseArgs } from 'node:util';
import { renderTable } from '../src/format/table.js';
import { cpuMsOf, loadAverage } from './support/cpu.js';
import { startNaive, startNodeHttp, startSocketlab, type ServerProcess } from './support/server-process.js';
import { beginBenchRun, JSON_OUTPUT_FLAGS, writeBenchJson } from './support/json-output.js';
import { WRK_MISSING, findWrk, runWrk, wrkVersion } from './support/wrk.js';

const PATH = '/age?birthdate=1993-05-01';
const TARGET_VS_NAIVE = 0.9;

const { values } = parseArgs({
  options: { duration: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' }, 'no-close': { type: 'boolean' }, ...JSON_OUTPUT_FLAGS },
});
const benchRun = beginBenchRun('serve', values);
const durationS = Number(values.duration ?? 5);
const rounds = Number(values.rounds ?? 3);
const connections = Number(values.connections ?? 100);

interface Contender {
  name: string;
  start: () => Promise<ServerProcess>;
}

interface Measured {
  rps: number[];
  cpuUsPerRequest: number[];
  latency: number[];
  errors: number;
}

/** One server's measured run in one round, as printed. */
interface RoundRecord {
  round: number;
  server: string;
  rps: number;
  requests: number;
  cpuUsPerRequest: number;
  latencyAvgMs: number;
  errors: number;
  loadAverage: string;
}

/** One line of a printed table: medians over the rounds and the ratios. */
interface SummaryRow {
  server: string;
  rps: number;
  cpuUsPerRequest: number;
  latencyAvgMs: number;
  errors: number;
  /** The table's base server's req/s ÷ this one's. */
  baseOverThisRps: number;
  /** This server's CPU per request ÷ the base server's. */
  thisOverBaseCpu: number;
}

const KEEP_ALIVE: Contender[] = [
  { name: 'socketlab serve', start: () => startSocketlab() },
  { name: 'node:http', start: startNodeHttp },
  { name: 'naive node:net', start: startNaive },
];

const CLOSE: Contender[] = [
  // The burst that widens the accept comes with the first round's connections.
  { name: 'socketlab, 8 accept descriptors', start: () => startSocketlab(['--accept-descriptors', '8']) },
  { name: 'socketlab, 1 accept descriptor', start: () => startSocketlab(['--accept-descriptors', '1']) },
];

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

async function measure(contenders: Contender[], headers: string[], log: RoundRecord[]): Promise<Map<string, Measured>> {
  const results = new Map<string, Measured>();
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? contenders : [...contenders].reverse();
    for (const contender of order) {
      const server = await contender.start();
      try {
        // A short warm-up so the JIT has compiled the hot path before we count.
        await runWrk(server.url + PATH, { connections, threads: 1, durationS: 1, headers });
        const load = loadAverage();
        const before = cpuMsOf(server.pid);
        const result = await runWrk(server.url + PATH, { connections, threads: 1, durationS, headers });
        const after = cpuMsOf(server.pid);
        const cpuUs = before === null || after === null || result.requests === 0 ? Number.NaN : ((after - before) * 1000) / result.requests;
        const entry = results.get(contender.name) ?? { rps: [], cpuUsPerRequest: [], latency: [], errors: 0 };
        entry.rps.push(result.requestsPerSec);
        entry.cpuUsPerRequest.push(cpuUs);
        entry.latency.push(result.latencyAvgMs);
        entry.errors += result.errors;
        results.set(contender.name, entry);
        log.push({
          round,
          server: contender.name,
          rps: result.requestsPerSec,
          requests: result.requests,
          cpuUsPerRequest: cpuUs,
          latencyAvgMs: result.latencyAvgMs,
          errors: result.errors,
          loadAverage: load,
        });
        process.stdout.write(
          `  round ${round}: ${contender.name.padEnd(32)} ${String(Math.round(result.requestsPerSec)).padStart(7)} req/s  ${cpuUs.toFixed(2).padStart(6)} µs CPU/req  (load average ${load})\n`,
        );
      } finally {
        await server.stop();
      }
    }
  }
  return results;
}

function summarize(contenders: Contender[], results: Map<string, Measured>, base: string): SummaryRow[] {
  const of = (name: string): Measured => results.get(name) ?? { rps: [0], cpuUsPerRequest: [Number.NaN], latency: [0], errors: 0 };
  const ours = median(of(base).rps);
  const oursCpu = median(of(base).cpuUsPerRequest);
  return contenders.map(({ name }) => {
    const m = of(name);
    return {
      server: name,
      rps: Math.round(median(m.rps)),
      cpuUsPerRequest: Number(median(m.cpuUsPerRequest).toFixed(2)),
      latencyAvgMs: median(m.latency),
      errors: m.errors,
      baseOverThisRps: Number((ours / median(m.rps)).toFixed(2)),
      thisOverBaseCpu: Number((median(m.cpuUsPerRequest) / oursCpu).toFixed(2)),
    };
  });
}

function table(rows: SummaryRow[], base: string): string {
  return renderTable(
    ['server', 'req/s', 'µs CPU/req', 'avg latency ms', 'errors', `${base} ÷ this (req/s)`, 'this ÷ ours (CPU/req)'],
    rows.map((r) => [r.server, r.rps, r.cpuUsPerRequest, r.latencyAvgMs, r.errors, r.baseOverThisRps, r.thisOverBaseCpu]),
  );
}

async function main(): Promise<void> {
  if ((await findWrk()) === null) {
    process.stdout.write(`${WRK_MISSING}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`GET ${PATH}, wrk -t1 -c${connections} -d${durationS}s, ${rounds} rounds interleaved, median shown; load average ${loadAverage()}\n`);
  const keepAliveRounds: RoundRecord[] = [];
  const results = await measure(KEEP_ALIVE, [], keepAliveRounds);
  const keepAlive = summarize(KEEP_ALIVE, results, 'socketlab serve');
  process.stdout.write(`\n${table(keepAlive, 'socketlab serve')}\n\n`);
  const rps = (name: string): number => median(results.get(name)?.rps ?? [0]);
  const cpu = (name: string): number => median(results.get(name)?.cpuUsPerRequest ?? [Number.NaN]);
  const vsNaive = rps('socketlab serve') / rps('naive node:net');
  const cpuVsNaive = cpu('naive node:net') / cpu('socketlab serve');
  process.stdout.write(`socketlab / naive     = ${vsNaive.toFixed(2)}x req/s (target >= ${TARGET_VS_NAIVE}x): ${vsNaive >= TARGET_VS_NAIVE ? 'met' : 'NOT met'}\n`);
  process.stdout.write(`                        ${cpuVsNaive.toFixed(2)}x by CPU per request (naive's µs ÷ socketlab's)\n`);
  process.stdout.write(
    `socketlab / node:http = ${(rps('socketlab serve') / rps('node:http')).toFixed(2)}x req/s, ${(cpu('node:http') / cpu('socketlab serve')).toFixed(2)}x by CPU per request\n`,
  );
  process.stdout.write(`load average at the end: ${loadAverage()}\n`);
  const ratios = {
    socketlabOverNaiveRps: Number(vsNaive.toFixed(2)),
    socketlabOverNaiveTarget: TARGET_VS_NAIVE,
    naiveOverSocketlabCpu: Number(cpuVsNaive.toFixed(2)),
    socketlabOverNodeHttpRps: Number((rps('socketlab serve') / rps('node:http')).toFixed(2)),
    nodeHttpOverSocketlabCpu: Number((cpu('node:http') / cpu('socketlab serve')).toFixed(2)),
  };

  let close: { rounds: RoundRecord[]; summary: SummaryRow[] } | null = null;
  if (values['no-close'] !== true) {
    process.stdout.write(`\nA connection per request (wrk -H 'Connection: close'), socketlab's accept widened or not:\n`);
    const closeRounds: RoundRecord[] = [];
    const measured = await measure(CLOSE, ['Connection: close'], closeRounds);
    close = { rounds: closeRounds, summary: summarize(CLOSE, measured, CLOSE[0]?.name as string) };
    process.stdout.write(`\n${table(close.summary, CLOSE[0]?.name as string)}\n`);
    process.stdout.write(`load average at the end: ${loadAverage()}\n`);
  }
  writeBenchJson(
    values.json,
    benchRun,
    { quick: durationS < 5 || rounds < 3, versions: { wrk: await wrkVersion() } },
    { path: PATH, durationS, rounds, connections, keepAlive: { rounds: keepAliveRounds, summary: keepAlive }, ratios, close },
  );
}

await main();
