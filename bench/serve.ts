/**
 * End to end: socketlab serve against node:http and a naive fixed-response server, each
 * serving GET /age to wrk with 100 keep-alive connections, in the same run on this machine.
 *
 * Targets (issue 2): socketlab >= 2.5x node:http (the framework cost it removes) and
 * >= 0.8x the naive server (what parsing, routing, timing and correctness may cost).
 *
 * Each server runs alone in its own process while it is measured; rounds interleave the
 * servers so that a change in the machine's state affects all of them, and the median
 * round is reported.
 *
 * Run: node dist/bench/serve.js [--duration 5] [--rounds 3] [--connections 100]
 */
import { parseArgs } from 'node:util';
import { renderTable } from '../src/format/table.js';
import { startNaive, startNodeHttp, startSocketlab, type ServerProcess } from './support/server-process.js';
import { WRK_MISSING, findWrk, runWrk } from './support/wrk.js';

const PATH = '/age?birthdate=1993-05-01';

const { values } = parseArgs({ options: { duration: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' } } });
const durationS = Number(values.duration ?? 5);
const rounds = Number(values.rounds ?? 3);
const connections = Number(values.connections ?? 100);

const CONTENDERS: { name: string; start: () => Promise<ServerProcess> }[] = [
  { name: 'socketlab serve', start: () => startSocketlab() },
  { name: 'node:http', start: startNodeHttp },
  { name: 'naive node:net', start: startNaive },
];

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

async function main(): Promise<void> {
  if ((await findWrk()) === null) {
    process.stdout.write(`${WRK_MISSING}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`GET ${PATH}, wrk -t1 -c${connections} -d${durationS}s, ${rounds} rounds, median shown\n`);
  const results = new Map<string, { rps: number[]; errors: number; latency: number[] }>();
  for (let round = 1; round <= rounds; round++) {
    for (const contender of CONTENDERS) {
      const server = await contender.start();
      try {
        // A short warm-up so the JIT has compiled the hot path before we count.
        await runWrk(server.url + PATH, { connections, threads: 1, durationS: 1 });
        const result = await runWrk(server.url + PATH, { connections, threads: 1, durationS });
        const entry = results.get(contender.name) ?? { rps: [], errors: 0, latency: [] };
        entry.rps.push(result.requestsPerSec);
        entry.latency.push(result.latencyAvgMs);
        entry.errors += result.errors;
        results.set(contender.name, entry);
        process.stdout.write(`  round ${round}: ${contender.name.padEnd(16)} ${Math.round(result.requestsPerSec)} req/s\n`);
      } finally {
        await server.stop();
      }
    }
  }
  const rps = (name: string): number => median(results.get(name)?.rps ?? [0]);
  const ours = rps('socketlab serve');
  const rows = CONTENDERS.map(({ name }) => {
    const entry = results.get(name) ?? { rps: [0], errors: 0, latency: [0] };
    return [name, Math.round(median(entry.rps)), median(entry.latency), entry.errors, Number((ours / median(entry.rps)).toFixed(2))];
  });
  process.stdout.write(`\n${renderTable(['server', 'req/s', 'avg latency ms', 'errors', 'socketlab ÷ this'], rows)}\n\n`);
  const vsNode = ours / rps('node:http');
  const vsNaive = ours / rps('naive node:net');
  process.stdout.write(`socketlab / node:http = ${vsNode.toFixed(2)}x (target >= 2.5x): ${vsNode >= 2.5 ? 'met' : 'NOT met'}\n`);
  process.stdout.write(`socketlab / naive     = ${vsNaive.toFixed(2)}x (target >= 0.8x): ${vsNaive >= 0.8 ? 'met' : 'NOT met'}\n`);
}

await main();
