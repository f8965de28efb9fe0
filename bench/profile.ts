/**
 * Where a GET /age spends its time, in µs per request: socketlab serve and the naive
 * node:net server, each profiled with V8's --cpu-prof under wrk -t1 -c100, side by side.
 *
 * A profile's samples say where the main thread was; /proc says how much CPU the process
 * used over the same run. The breakdown is the second split by the first: each category's
 * share of the non-idle samples times the CPU per request. (Scaling by /proc matters on a
 * shared machine: V8 samples on a timer, so while the thread waits for a core the samples land
 * on whatever it was doing, mostly the write(2) it was in; CPU time does not grow then.)
 *
 * Categories, by the frame a sample is in (self time):
 *   write(2) + loopback   writeUtf8String / writeLatin1String / writeBuffer / writev: the
 *                         syscall, and on loopback the receiver's TCP work done inline in it
 *   read path             Node's stream read machinery (onStreamRead, Readable push/emit)
 *   write path (JS)       Writable.write and friends around the syscall
 *   parse + serialize     src/http
 *   connection            src/server (the connection state machine, stage timings, clock)
 *   route + handler       src/app, src/models
 *   GC                    (garbage collector)
 *   other native          (program): libuv, epoll, V8 runtime outside JS frames
 *   other JS              everything else
 *
 * Run: node dist/bench/profile.js [--duration 6] [--json FILE]
 * --json FILE writes every profiled run and the mean per category (bench/support/json-output.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderTable } from '../src/format/table.js';
import { SOCKETLAB_CLI } from '../src/program.js';
import { startServerProcess, type ServerProcess } from '../src/labs/serve-process.js';
import { cpuMsOf, loadAverage } from './support/cpu.js';
import { NAIVE_SERVER } from './support/server-process.js';
import { beginBenchRun, JSON_OUTPUT_FLAGS, writeBenchJson } from './support/json-output.js';
import { WRK_MISSING, findWrk, runWrk, wrkVersion } from './support/wrk.js';

const PATH = '/age?birthdate=1993-05-01';
/** µs between samples: fine enough for a request of ~10 µs over a few seconds. */
const SAMPLE_INTERVAL_US = 100;

const { values } = parseArgs({ options: { duration: { type: 'string' }, ...JSON_OUTPUT_FLAGS } });
const durationS = Number(values.duration ?? 6);
const benchRun = beginBenchRun('profile', values);

const CATEGORIES = ['write(2) + loopback', 'read path', 'write path (JS)', 'parse + serialize', 'connection', 'route + handler', 'GC', 'other native', 'other JS'] as const;
type Category = (typeof CATEGORIES)[number];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

function categorize(node: ProfileNode): Category | 'idle' {
  const { functionName: fn, url } = node.callFrame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'other native';
  if (/^write(Utf8|Latin1|Ascii|Ucs2)String$|^writeBuffer$|^writev$/.test(fn)) return 'write(2) + loopback';
  if (url.includes('/src/http/')) return 'parse + serialize';
  if (url.includes('/src/server/')) return 'connection';
  if (url.includes('/src/app/') || url.includes('/src/models/')) return 'route + handler';
  if (/onStreamRead|readable|addChunk|maybeReadMore|Readable\.|Socket\.read|readableAddChunk/.test(`${fn} ${url}`) && url.startsWith('node:')) return 'read path';
  if (/streams\/writable|stream_base_commons|writeGeneric|_writeGeneric|afterWrite|onwrite/.test(`${fn} ${url}`) && url.startsWith('node:')) return 'write path (JS)';
  return 'other JS';
}

/** Samples per category, idle left out. */
function breakdown(profile: CpuProfile): Record<Category, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  for (const id of profile.samples) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const category = categorize(node);
    if (category !== 'idle') counts[category] += 1;
  }
  return counts;
}

interface Side {
  name: string;
  requests: number;
  rps: number;
  cpuUsPerRequest: number;
  samples: number;
  /** µs per request, per category. */
  us: Record<Category, number>;
}

async function profileServer(name: string, script: string, args: string[]): Promise<Side> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'socketlab-profile-'));
  try {
    const server: ServerProcess = await startServerProcess(name, script, args, { nodeArgs: ['--cpu-prof', `--cpu-prof-interval=${SAMPLE_INTERVAL_US}`, `--cpu-prof-dir=${dir}`] });
    let requests = 0;
    let rps = 0;
    let cpuMs = 0;
    try {
      await runWrk(server.url + PATH, { connections: 100, threads: 1, durationS: 2 });
      const before = cpuMsOf(server.pid) ?? 0;
      const result = await runWrk(server.url + PATH, { connections: 100, threads: 1, durationS });
      cpuMs = (cpuMsOf(server.pid) ?? 0) - before;
      requests = result.requests;
      rps = result.requestsPerSec;
    } finally {
      // The profile is written when the process exits.
      await server.stop();
    }
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error(`${name} wrote no profile`);
    const counts = breakdown(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile);
    const busy = CATEGORIES.reduce((sum, c) => sum + counts[c], 0);
    const cpuUsPerRequest = (cpuMs * 1000) / requests;
    // The warm-up's samples are in the profile too: shares, not counts, carry over.
    const us = Object.fromEntries(CATEGORIES.map((c) => [c, Math.round((counts[c] / busy) * cpuUsPerRequest * 100) / 100])) as Record<Category, number>;
    return { name, requests, rps, cpuUsPerRequest: Math.round(cpuUsPerRequest * 100) / 100, samples: busy, us };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if ((await findWrk()) === null) {
    process.stdout.write(`${WRK_MISSING}\n`);
    process.exitCode = 1;
    return;
  }
  const load = loadAverage();
  process.stdout.write(`GET ${PATH}, wrk -t1 -c100 -d${durationS}s, --cpu-prof every ${SAMPLE_INTERVAL_US} µs; load average ${load}\n`);
  const sides: Side[] = [];
  // Interleaved twice (A B B A); each side's two runs are averaged.
  for (const [name, script, args] of [
    ['socketlab serve', SOCKETLAB_CLI, ['serve', '--port', '0']],
    ['naive node:net', NAIVE_SERVER, []],
    ['naive node:net', NAIVE_SERVER, []],
    ['socketlab serve', SOCKETLAB_CLI, ['serve', '--port', '0']],
  ] as const) {
    const side = await profileServer(name, script, [...args]);
    process.stdout.write(`  ${name}: ${Math.round(side.rps)} req/s, ${side.cpuUsPerRequest} µs CPU/request, ${side.samples} busy samples (load average ${loadAverage()})\n`);
    sides.push(side);
  }
  const mean = (name: string, read: (s: Side) => number): number => {
    const list = sides.filter((s) => s.name === name);
    return Math.round((list.reduce((sum, s) => sum + read(s), 0) / list.length) * 100) / 100;
  };
  const names = ['socketlab serve', 'naive node:net'];
  const rows = [
    ...CATEGORIES.map((c) => [
      c,
      ...names.map((n) => mean(n, (s) => s.us[c])),
      Math.round((mean(names[0] as string, (s) => s.us[c]) - mean(names[1] as string, (s) => s.us[c])) * 100) / 100,
    ]),
    [
      'total (CPU per request)',
      ...names.map((n) => mean(n, (s) => s.cpuUsPerRequest)),
      Math.round((mean(names[0] as string, (s) => s.cpuUsPerRequest) - mean(names[1] as string, (s) => s.cpuUsPerRequest)) * 100) / 100,
    ],
  ];
  process.stdout.write(`\n${renderTable(['µs per request', ...names, 'socketlab - naive'], rows)}\n`);
  process.stdout.write(`load average at the end: ${loadAverage()}\n`);
  writeBenchJson(
    values.json,
    benchRun,
    { quick: durationS < 6, versions: { wrk: await wrkVersion() } },
    {
      path: PATH,
      durationS,
      sampleIntervalUs: SAMPLE_INTERVAL_US,
      categories: CATEGORIES,
      runs: sides,
      meanUsPerRequest: Object.fromEntries(
        names.map((n) => [n, Object.fromEntries([...CATEGORIES.map((c) => [c, mean(n, (s) => s.us[c])]), ['total', mean(n, (s) => s.cpuUsPerRequest)]])]),
      ),
    },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
