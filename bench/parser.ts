/**
 * How fast src/http parses, against Node's own parser in the same run.
 *
 *   npx tsc -p . && node dist/bench/parser.js [--json FILE]
 *
 * Two requests, each whole and split in two chunks (a TCP read boundary in the middle):
 *   (a) the small GET wrk sends, (b) a browser-like GET with 10 header fields.
 * Baseline: llhttp, the C parser inside Node, through its JS binding (HTTPParser from
 * node:_http_common, what node:http itself uses), fed the same bytes. That binding decodes every
 * header name and value into strings for its callback, while socketlab decodes headers only
 * when asked; the "+ headers" rows read request.headers too, to compare like with like.
 *
 * Then the response side: socket.write of serializeResponse's string against the same bytes as
 * a Buffer, over a loopback connection (see the comment at the top of response-writer.ts).
 *
 * Figures are rough on a shared machine: read the ratios, which are measured in one run.
 * --json FILE writes every row and every write round (bench/support/json-output.ts).
 */
import net from 'node:net';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { Bench, type Task } from 'tinybench';
import { PARSE } from '../src/http/constants.js';
import { RequestParser } from '../src/http/request-parser.js';
import { serializeResponse, type HttpResponse, type WriteContext } from '../src/http/response-writer.js';
import { beginBenchRun, JSON_OUTPUT_FLAGS, writeBenchJson } from './support/json-output.js';

const { values } = parseArgs({ options: { ...JSON_OUTPUT_FLAGS } });
const benchRun = beginBenchRun('parser', values);

/** Requests per task call: one parse (~0.2-2 µs) is too short to time alone. */
const BATCH = 200;
const TIME_MS = 600;
const WARMUP_MS = 150;

const SMALL_GET = Buffer.from('GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n', 'latin1');
const BROWSER_GET = Buffer.from(
  [
    'GET /api/v1/users/42?include=profile HTTP/1.1',
    'Host: example.com',
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
    'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'Accept-Language: en-US,en;q=0.5',
    'Accept-Encoding: gzip, deflate, br',
    'Connection: keep-alive',
    'Cookie: session=abc123; theme=dark',
    'Upgrade-Insecure-Requests: 1',
    'Cache-Control: max-age=0',
    'Referer: https://example.com/',
    '',
    '',
  ].join('\r\n'),
  'latin1',
);

// ---------------------------------------------------------------------------------------------
// The parsers under test.

function socketlabParse(chunkSets: Buffer[][], readHeaders: boolean): () => void {
  const parser = new RequestParser();
  let set = 0;
  return () => {
    for (let n = 0; n < BATCH; n++) {
      const chunks = chunkSets[set] as Buffer[];
      set = (set + 1) % chunkSets.length;
      for (const chunk of chunks) {
        parser.feed(chunk);
        for (;;) {
          const step = parser.next();
          if (step === PARSE.NEED_MORE) break;
          if (step === PARSE.ERROR) throw new Error(`socketlab parser: ${parser.error}`);
          if (readHeaders && step === PARSE.MESSAGE && parser.request !== null && parser.request.headers.length === 0) throw new Error('no headers');
        }
      }
    }
  };
}

interface LlhttpBinding {
  new (): LlhttpParser;
  REQUEST: number;
  kOnHeadersComplete: number;
  kOnMessageComplete: number;
  kOnBody: number;
  kOnHeaders: number;
  kOnExecute: number;
}
interface LlhttpParser {
  [callback: number]: unknown;
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(data: Buffer): number | Error;
}

/** node:_http_common is internal but has been stable for years; null if it ever goes away. */
function loadLlhttp(): LlhttpBinding | null {
  try {
    const require = createRequire(import.meta.url);
    const common = require('node:_http_common') as { HTTPParser?: LlhttpBinding };
    return common.HTTPParser ?? null;
  } catch {
    return null;
  }
}

function llhttpParse(HTTPParser: LlhttpBinding, chunkSets: Buffer[][]): () => void {
  const parser = new HTTPParser();
  let messages = 0;
  // The same work node:http asks of it: headers, method and url handed to JS at headers complete.
  parser[HTTPParser.kOnHeadersComplete] = (): number => 0;
  parser[HTTPParser.kOnMessageComplete] = (): void => {
    messages++;
  };
  parser[HTTPParser.kOnBody] = (): void => {};
  parser[HTTPParser.kOnHeaders] = (): void => {};
  parser.initialize(HTTPParser.REQUEST, {});
  let set = 0;
  return () => {
    const before = messages;
    for (let n = 0; n < BATCH; n++) {
      const chunks = chunkSets[set] as Buffer[];
      set = (set + 1) % chunkSets.length;
      for (const chunk of chunks) {
        const result = parser.execute(chunk);
        if (result instanceof Error) throw result;
      }
    }
    if (messages - before !== BATCH) throw new Error('llhttp did not complete every message');
  };
}

/** The request whole, and split in two at the middle (fresh Buffers, as sockets deliver them). */
function feedings(request: Buffer): { whole: Buffer[][]; split: Buffer[][] } {
  const middle = request.length >> 1;
  return {
    whole: [[request]],
    split: [[Buffer.from(request.subarray(0, middle)), Buffer.from(request.subarray(middle))]],
  };
}

// ---------------------------------------------------------------------------------------------
// Reporting.

interface Row {
  request: string;
  bytes: number;
  chunks: number;
  parser: string;
  task: Task;
}

function nsPerRequest(task: Task): number {
  const result = task.result;
  if (result === undefined || !('period' in result)) return Number.NaN;
  return (result.period * 1e6) / BATCH;
}

function formatRate(perSecond: number, unit: string): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M${unit}`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k${unit}`;
  return `${perSecond.toFixed(0)} ${unit}`;
}

/** One printed row of the parse table, as written to --json. */
interface ParseFigure {
  request: string;
  bytes: number;
  chunks: number;
  parser: string;
  nsPerRequest: number;
  /** llhttp's ns ÷ this row's, for the same request and chunks; null without llhttp. */
  vsLlhttp: number | null;
  /** tinybench's samples behind the figure and their relative margin of error (%). */
  samples: number;
  rme: number | null;
}

function printParseTable(rows: Row[]): ParseFigure[] {
  const header = ['request', 'chunks', 'parser', 'ns/request', 'requests/s', 'bytes/s', 'vs llhttp'];
  const lines: string[][] = [];
  const figures: ParseFigure[] = [];
  for (const row of rows) {
    const ns = nsPerRequest(row.task);
    const perSecond = 1e9 / ns;
    const baseline = rows.find((r) => r.request === row.request && r.chunks === row.chunks && r.parser.startsWith('llhttp'));
    const ratio = baseline === undefined ? '' : `${(nsPerRequest(baseline.task) / ns).toFixed(2)}x`;
    lines.push([row.request, String(row.chunks), row.parser, ns.toFixed(0), formatRate(perSecond, 'req/s'), formatRate(perSecond * row.bytes, 'B/s'), ratio]);
    const result = row.task.result as { latency?: { samplesCount?: number; rme?: number } } | undefined;
    figures.push({
      request: row.request,
      bytes: row.bytes,
      chunks: row.chunks,
      parser: row.parser,
      nsPerRequest: Math.round(ns),
      vsLlhttp: baseline === undefined ? null : Number((nsPerRequest(baseline.task) / ns).toFixed(2)),
      samples: result?.latency?.samplesCount ?? 0,
      rme: result?.latency?.rme === undefined ? null : Number(result.latency.rme.toFixed(2)),
    });
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const format = (cells: string[]): string => cells.map((c, i) => (i >= 3 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ');
  console.log(format(header));
  for (const line of lines) console.log(format(line));
  return figures;
}

// ---------------------------------------------------------------------------------------------

async function benchParsers(): Promise<{ llhttp: string | null; rows: ParseFigure[] }> {
  const HTTPParser = loadLlhttp();
  const bench = new Bench({ time: TIME_MS, warmupTime: WARMUP_MS, throws: true });
  const rows: Row[] = [];
  const add = (request: string, bytes: number, chunks: number, parser: string, fn: () => void): void => {
    const name = `${request} / ${chunks} / ${parser}`;
    bench.add(name, fn);
    rows.push({ request, bytes, chunks, parser, task: undefined as unknown as Task });
  };
  for (const [request, bytes] of [
    ['small GET (wrk)', SMALL_GET],
    ['browser GET, 10 headers', BROWSER_GET],
  ] as const) {
    const { whole, split } = feedings(bytes);
    for (const [chunks, sets] of [
      [1, whole],
      [2, split],
    ] as const) {
      add(request, bytes.length, chunks, 'socketlab', socketlabParse(sets, false));
      add(request, bytes.length, chunks, 'socketlab + headers', socketlabParse(sets, true));
      if (HTTPParser !== null) add(request, bytes.length, chunks, 'llhttp (node:_http_common)', llhttpParse(HTTPParser, sets));
    }
  }
  await bench.run();
  bench.tasks.forEach((task, i) => {
    (rows[i] as Row).task = task;
  });
  console.log(`\nRequest parsing (${BATCH} requests per sample, Node ${process.version}, llhttp ${process.versions.llhttp})\n`);
  if (HTTPParser === null) console.log('llhttp baseline unavailable: node:_http_common has no HTTPParser in this Node version.\n');
  return { llhttp: HTTPParser === null ? null : (process.versions.llhttp ?? null), rows: printParseTable(rows) };
}

/** socket.write(string) against socket.write(Buffer) of the same response, over loopback. */
async function benchWrites(): Promise<{ rounds: { stringNs: number; bufferNs: number }[]; stringNs: number; bufferNs: number; stringSpeedOverBuffer: number }> {
  const sink = net.createServer((socket) => socket.on('data', () => {}).on('error', () => {}));
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const { port } = sink.address() as net.AddressInfo;
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setNoDelay(true);

  const response: HttpResponse = { status: 200, contentType: 'application/json', body: '{"birthdate":"1993-05-01","age":33}' };
  const context: WriteContext = { date: new Date().toUTCString(), versionMinor: 1, keepAlive: true, head: false };
  const writeBatch = async (toBytes: () => string | Buffer): Promise<void> => {
    for (let n = 0; n < BATCH; n++) socket.write(toBytes());
    if (socket.writableNeedDrain) await once(socket, 'drain');
  };
  // Alternate the two in short rounds, so that a burst of load from something else on the
  // machine does not land on one variant only; report the median of each.
  const ROUNDS = 5;
  const asString: number[] = [];
  const asBuffer: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({ time: TIME_MS / 2, warmupTime: WARMUP_MS / 2, throws: true });
    bench.add('string', () => writeBatch(() => serializeResponse(response, context)));
    bench.add('Buffer', () => writeBatch(() => Buffer.from(serializeResponse(response, context) as string, 'latin1')));
    await bench.run();
    const [string, buffer] = bench.tasks.map(nsPerRequest) as [number, number];
    asString.push(string);
    asBuffer.push(buffer);
  }
  socket.destroy();
  sink.close();

  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] as number;
  const stringNs = median(asString);
  const bufferNs = median(asBuffer);
  console.log(`\nResponse write: serializeResponse + socket.write over loopback (${BATCH} per sample, median of ${ROUNDS} alternating rounds)\n`);
  console.log(`string  ${stringNs.toFixed(0).padStart(6)} ns/response  ${formatRate(1e9 / stringNs, 'writes/s')}`);
  console.log(`Buffer  ${bufferNs.toFixed(0).padStart(6)} ns/response  ${formatRate(1e9 / bufferNs, 'writes/s')}`);
  console.log(`string is ${(bufferNs / stringNs).toFixed(2)}x the speed of Buffer (rounds: ${asString.map((v, i) => ((asBuffer[i] as number) / v).toFixed(2)).join(', ')})`);
  return {
    rounds: asString.map((v, i) => ({ stringNs: Math.round(v), bufferNs: Math.round(asBuffer[i] as number) })),
    stringNs: Math.round(stringNs),
    bufferNs: Math.round(bufferNs),
    stringSpeedOverBuffer: Number((bufferNs / stringNs).toFixed(2)),
  };
}

const started = performance.now();
const parse = await benchParsers();
const writes = await benchWrites();
console.log(`\n(done in ${((performance.now() - started) / 1000).toFixed(1)} s; a shared machine: read the ratios, not the absolute figures)`);
writeBenchJson(values.json, benchRun, { quick: false, versions: { llhttp: parse.llhttp } }, { batch: BATCH, timeMs: TIME_MS, parse: parse.rows, writes });
