/**
 * The verdict as a pure function of recorded steps: every layer planted alone, the numbers
 * that flip it (a signal just under its threshold, saturation without flat throughput, a
 * generator busy because requests fail), ties decided by precedence, the order of first
 * crossings, what is ruled out and with which numbers, what is unseen, and `none`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideBottleneck, describeCrowding, findCrossings } from '../../src/diagnose/verdict.js';
import { LAYER, PRECEDENCE, STOP, type Layer, type SignalName } from '../../src/diagnose/constants.js';
import type { DiagnoseContext, StepMeasurement } from '../../src/diagnose/types.js';
import { context, GENERATOR_PID, POSTGRES_PID, SATURATED, step, thread } from './steps.js';

const FLAT = { rps: 4000 };
/** 1, 4, 16 users, throughput growing then flat at 16. */
function rampFlatAt16(patch16: Parameters<typeof step>[1] = {}, patch4: Parameters<typeof step>[1] = {}): StepMeasurement[] {
  return [step(1, { rps: 1000 }), step(4, { rps: 3900, ...patch4 }), step(16, { ...FLAT, ...patch16 })];
}

interface Case {
  name: string;
  ctx?: Partial<DiagnoseContext>;
  steps: StepMeasurement[];
  layer: Layer;
  vus?: number | null;
  /** Signals the evidence must name. */
  signals?: SignalName[];
}

const CASES: Case[] = [
  // cpu
  {
    name: 'cpu: the busiest thread saturated while throughput is flat',
    steps: rampFlatAt16({ target: SATURATED }),
    layer: 'cpu',
    vus: 16,
    signals: ['target.busiest-thread.runnable', 'throughput'],
  },
  { name: 'cpu, contrary: saturated but throughput still grew 4x', steps: [step(1), step(4, { target: SATURATED })], layer: 'none' },
  {
    name: 'cpu, contrary: a saturated step that dipped, then more users made more (no knee yet)',
    steps: [step(1, { rps: 1000 }), step(4, { rps: 900, target: SATURATED }), step(16, { rps: 4000, target: SATURATED })],
    layer: 'none',
  },
  { name: 'cpu, contrary: flat but the thread was runnable 85%', steps: rampFlatAt16({ target: { busiestThread: thread(85, 80) } }), layer: 'none' },
  {
    name: 'cpu: runnable 99% having run 20% of a core (a crowded machine) still limits while flat',
    steps: rampFlatAt16({ target: { busiestThread: thread(99, 20) } }),
    layer: 'cpu',
    signals: ['target.busiest-thread.runnable'],
  },
  {
    name: 'cpu: socketlab serve --model pool, its workers using the cores and tasks queued for them',
    ctx: { serve: true },
    steps: rampFlatAt16({ target: { cpuPercent: 185, busiestThread: thread(80, 75) }, serve: { taskWaitAvgMs: 12 } }),
    layer: 'cpu',
    signals: ['target.cpu.cores', 'serve.pool.task-wait'],
  },
  {
    name: 'cpu: a multi-threaded target using 1.9 of 2 cores while flat',
    steps: rampFlatAt16({ target: { cpuPercent: 190, busiestThread: thread(60, 55) } }),
    layer: 'cpu',
    signals: ['target.cpu.cores'],
  },
  // event-loop
  {
    name: 'event-loop: delay grows from 0.5 ms to 30 ms with users',
    ctx: { serve: true },
    steps: [step(1, { serve: { loopDelayMeanMs: 0.5 } }), step(4, { serve: { loopDelayMeanMs: 3 } }), step(16, { serve: { loopDelayMeanMs: 30 } })],
    layer: 'event-loop',
    vus: 16,
    signals: ['serve.event-loop.delay'],
  },
  {
    name: 'event-loop, contrary: 30 ms already at one user (not growing with users)',
    ctx: { serve: true },
    steps: [step(1, { serve: { loopDelayMeanMs: 25 } }), step(4, { serve: { loopDelayMeanMs: 30 } })],
    layer: 'none',
  },
  {
    name: 'event-loop, contrary: grows but stays under 10 ms',
    ctx: { serve: true },
    steps: [step(1, { serve: { loopDelayMeanMs: 0.5 } }), step(4, { serve: { loopDelayMeanMs: 8 } })],
    layer: 'none',
  },
  // accept-queue
  {
    name: 'accept-queue: the queue at its backlog, overflows counted',
    steps: [
      step(1),
      step(4),
      step(16, {
        listener: { port: 3000, queuedPeak: 9, backlog: 8, sockets: 1 },
        kernel: { listenOverflows: 6, synRetransmits: 6 },
        load: { connectMs: { min: 0.1, p50: 0.2, p99: 1035 } },
      }),
    ],
    layer: 'accept-queue',
    vus: 16,
    signals: ['listener.accept-queue', 'TcpExt.ListenOverflows', 'TcpExt.TCPSynRetrans', 'load.connect.p99'],
  },
  {
    name: 'accept-queue, contrary: overflows elsewhere in the namespace while our queue held 2 of 8',
    steps: [step(1), step(4, { listener: { port: 3000, queuedPeak: 2, backlog: 8, sockets: 1 }, kernel: { listenOverflows: 800 } })],
    layer: 'none',
  },
  {
    name: 'accept-queue: the sampler saw the queue at 1, but overflows rose and our connects took a second',
    steps: [
      step(1),
      step(16, {
        listener: { port: 3000, queuedPeak: 1, backlog: 8, sockets: 1 },
        kernel: { listenOverflows: 5, synRetransmits: 5 },
        load: { connectMs: { min: 0.1, p50: 0.2, p99: 1020 } },
      }),
    ],
    layer: 'accept-queue',
    signals: ['listener.accept-queue', 'TcpExt.ListenOverflows', 'load.connect.p99'],
  },
  {
    name: 'accept-queue: half full with overflows rising',
    steps: [step(1), step(4, { listener: { port: 3000, queuedPeak: 5, backlog: 8, sockets: 1 }, kernel: { listenOverflows: 3 } })],
    layer: 'accept-queue',
    vus: 4,
  },
  {
    name: 'accept-queue, client side only: connects at 1 s with SYNs retransmitted',
    ctx: { listenerSeen: false, local: false, loopback: false, targetPids: [] },
    steps: [step(1, { listener: null }), step(4, { listener: null, kernel: { synRetransmits: 12 }, load: { connectMs: { min: 0.1, p50: 0.3, p99: 1100 } } })],
    layer: 'accept-queue',
    signals: ['load.connect.p99'],
  },
  {
    name: 'accept-queue, client side contrary: slow connects but no SYN retransmitted',
    ctx: { listenerSeen: false, local: false, loopback: false, targetPids: [] },
    steps: [step(1, { listener: null }), step(4, { listener: null, load: { connectMs: { min: 0.1, p50: 0.3, p99: 1100 } } })],
    layer: 'none',
  },
  // descriptors
  {
    name: 'descriptors: 63 of 64, connections closed unanswered',
    steps: [
      step(1, { target: { fdLimit: 64, fdsPeak: 22 } }),
      step(4, { target: { fdLimit: 64, fdsPeak: 63 }, load: { failed: 500, failureRate: 0.2, failures: { closed_early: 400, reset: 100 } } }),
    ],
    layer: 'descriptors',
    vus: 4,
    signals: ['target.fds', 'failures.closed_early+reset'],
  },
  { name: 'descriptors, contrary: 55 of 64', steps: [step(1, { target: { fdLimit: 64 } }), step(4, { target: { fdLimit: 64, fdsPeak: 55 } })], layer: 'none' },
  // db-pool
  {
    name: 'db-pool: wait 6x the query',
    ctx: { serve: true, serveDb: true },
    steps: [step(1, { serve: { poolWaitAvgMs: 0, poolQueryAvgMs: 0.4, poolSize: 2 } }), step(16, { serve: { poolWaitAvgMs: 3.7, poolQueryAvgMs: 0.6, poolSize: 2 } })],
    layer: 'db-pool',
    vus: 16,
    signals: ['serve.db.pool-wait'],
  },
  {
    name: 'db-pool, contrary: wait 1.5x the query',
    ctx: { serve: true, serveDb: true },
    steps: [step(1), step(4, { serve: { poolWaitAvgMs: 3, poolQueryAvgMs: 2 } })],
    layer: 'none',
  },
  {
    name: 'db-pool, contrary: 5x the query but under 1 ms',
    ctx: { serve: true, serveDb: true },
    steps: [step(1), step(4, { serve: { poolWaitAvgMs: 0.5, poolQueryAvgMs: 0.1 } })],
    layer: 'none',
  },
  // database
  {
    name: 'database: a backend runnable 97% on a CPU 90%',
    ctx: { databasePids: [POSTGRES_PID] },
    steps: [
      step(1, { database: { processes: 3, cpuPercent: 20, busiest: null } }),
      step(4, { database: { processes: 3, cpuPercent: 120, busiest: { ...thread(97, 90, 6000), pid: 6000 } } }),
    ],
    layer: 'database',
    vus: 4,
    signals: ['database.busiest-process.runnable'],
  },
  {
    name: 'database, contrary: backends busy 40%',
    ctx: { databasePids: [POSTGRES_PID] },
    steps: [step(1), step(4, { database: { processes: 3, cpuPercent: 60, busiest: { ...thread(45, 40, 6000), pid: 6000 } } })],
    layer: 'none',
  },
  // ports
  {
    name: 'ports: EADDRNOTAVAIL and TIME_WAIT',
    ctx: { portRange: { text: '40000 40099', count: 100 }, keepAlive: false },
    steps: [step(1, { client: { portsInUsePeak: 100, timeWaitPeak: 100 }, load: { failed: 9000, failureRate: 0.9, failures: { eaddrnotavail: 9000 } } })],
    layer: 'ports',
    vus: 1,
    signals: ['failures.eaddrnotavail', 'client.ports-in-use', 'client.TIME_WAIT'],
  },
  {
    name: 'ports, contrary: 50 of 100 in use',
    ctx: { portRange: { text: '40000 40099', count: 100 } },
    steps: [step(1, { client: { portsInUsePeak: 50, timeWaitPeak: 50 } })],
    layer: 'none',
  },
  // link
  {
    name: 'link: 480 KB/s on a 4 Mbit/s link',
    ctx: { loopback: false, local: false, listenerSeen: false, targetPids: [], link: { device: 'veth0', rateBitsPerSec: 4e6, rateSource: 'tc qdisc on veth0' } },
    steps: [
      step(1, { listener: null, rps: 55, link: { rxBytesPerSec: 480_000, txBytesPerSec: 9_000 } }),
      step(4, { listener: null, rps: 56, link: { rxBytesPerSec: 490_000, txBytesPerSec: 9_000 } }),
    ],
    layer: 'link',
    vus: 1,
    signals: ['link.bytes-per-second'],
  },
  {
    name: 'link, latency bound: nothing else crossed and each user waits a 40 ms round trip',
    ctx: { loopback: false, local: false, listenerSeen: false, targetPids: [], link: { device: 'veth0', rateBitsPerSec: 1e9, rateSource: 'link speed' } },
    steps: [
      step(4, { listener: null, rps: 98, load: { connectMs: { min: 40, p50: 41, p99: 45 } }, link: { rxBytesPerSec: 20_000, txBytesPerSec: 9_000 } }),
      step(16, { listener: null, rps: 390, load: { connectMs: { min: 40, p50: 41, p99: 45 } }, link: { rxBytesPerSec: 80_000, txBytesPerSec: 9_000 } }),
    ],
    layer: 'link',
    signals: ['link.users-per-rtt'],
  },
  {
    name: 'link, contrary: 100 KB/s on 4 Mbit/s, fast round trip',
    ctx: { loopback: false, local: false, listenerSeen: false, targetPids: [], link: { device: 'veth0', rateBitsPerSec: 4e6, rateSource: 'tc' } },
    steps: [step(1, { listener: null, link: { rxBytesPerSec: 100_000, txBytesPerSec: 9_000 } })],
    layer: 'none',
  },
  // memory
  {
    name: 'memory: MemAvailable at 3%',
    steps: [step(1), step(4, { machine: { memAvailableMinBytes: 0.03 * 16 * 2 ** 30 } })],
    layer: 'memory',
    signals: ['machine.MemAvailable', 'target.rss'],
  },
  { name: 'memory: swapping in 2 MiB/s', steps: [step(1), step(4, { machine: { swapInBytesPerSec: 2 * 2 ** 20 } })], layer: 'memory', signals: ['machine.pswpin'] },
  // load-generator
  {
    name: 'load-generator: EMFILE on its own sockets',
    steps: [step(1), step(64, { load: { failed: 300, failureRate: 0.3, failures: { emfile: 300 } }, generator: { fdsPeak: 64, fdLimit: 64 } })],
    layer: 'load-generator',
    vus: 64,
    signals: ['failures.emfile', 'generator.fds'],
  },
  {
    name: 'load-generator: its busiest thread saturated while requests succeed',
    steps: [step(1), step(4, { generator: { busiestThread: thread(97, 92, GENERATOR_PID) } })],
    layer: 'load-generator',
    signals: ['generator.busiest-thread.runnable'],
  },
  {
    name: 'load-generator, contrary: runnable 99% having run 20% of a core is a crowded machine, not its limit',
    steps: [step(1), step(4, { generator: { busiestThread: thread(99, 20, GENERATOR_PID) } })],
    layer: 'none',
  },
  {
    name: 'database, contrary: a backend runnable 95% having run 30% of a core',
    ctx: { databasePids: [POSTGRES_PID] },
    steps: [step(1), step(4, { database: { processes: 3, cpuPercent: 60, busiest: { ...thread(95, 30, 6000), pid: 6000 } } })],
    layer: 'none',
  },
  {
    name: 'load-generator, contrary: busy spinning on failed connects is not its limit',
    steps: [step(1), step(4, { generator: { busiestThread: thread(99, 97, GENERATOR_PID) }, load: { failed: 5000, failureRate: 0.5, failures: { refused: 5000 } } })],
    layer: 'none',
  },
  // none
  { name: 'none: throughput grew at every step up to --max-vus', steps: [step(1), step(4), step(16), step(64)], layer: 'none', vus: null },
];

for (const c of CASES) {
  test(c.name, () => {
    const verdict = decideBottleneck(c.steps, context(c.ctx));
    assert.equal(verdict.layer, c.layer, JSON.stringify({ evidence: verdict.evidence, also: verdict.alsoCrossed }));
    if (c.vus !== undefined) assert.equal(verdict.vus, c.vus);
    const named = verdict.evidence.map((e) => e.signal);
    for (const signal of c.signals ?? []) assert.ok(named.includes(signal), `evidence names ${signal}: ${named.join(', ')}`);
    if (c.layer === 'none') assert.deepEqual(verdict.evidence, []);
    // Every evidence sentence states its own number.
    for (const e of verdict.evidence) assert.ok(e.text.length > 20 && Number.isFinite(e.value), e.signal);
    // The named layer is never also in ruled out or unseen; every layer appears exactly once across the three.
    const ruled = verdict.ruledOut.map((r) => r.layer);
    const unseen = verdict.unseen.map((u) => u.layer);
    assert.ok(!ruled.includes(verdict.layer as never) && !unseen.includes(verdict.layer as never));
    const crossed = new Set([verdict.layer, ...verdict.alsoCrossed.map((a) => a.layer)]);
    for (const layer of PRECEDENCE) {
      const places = [crossed.has(layer), ruled.includes(layer), unseen.includes(layer)].filter(Boolean).length;
      assert.equal(places, 1, `${layer} is crossed, ruled out or unseen, once (${c.name})`);
    }
  });
}

test('first crossing wins: cpu at 16 users before the accept queue at 64', () => {
  const steps = [
    step(1),
    step(4, { rps: 3900 }),
    step(16, { ...FLAT, target: SATURATED }),
    step(64, { ...FLAT, target: SATURATED, listener: { port: 3000, queuedPeak: 600, backlog: 511, sockets: 1 }, kernel: { listenOverflows: 40 } }),
  ];
  const verdict = decideBottleneck(steps, context());
  assert.equal(verdict.layer, 'cpu');
  assert.equal(verdict.vus, 16);
  assert.deepEqual(verdict.alsoCrossed, [{ layer: 'accept-queue', vus: 64, signal: 'listener.accept-queue' }]);
});

test('ties at one step follow the documented precedence', () => {
  const atOnce = (patch16: Parameters<typeof step>[1], ctx: Partial<DiagnoseContext> = {}): Layer => decideBottleneck(rampFlatAt16(patch16), context(ctx)).layer;
  const saturatedGenerator = { busiestThread: thread(98, 90, GENERATOR_PID) };
  const fullQueue = { port: 3000, queuedPeak: 9, backlog: 8, sockets: 1 };
  assert.equal(atOnce({ target: SATURATED, generator: saturatedGenerator }), 'load-generator', 'the generator before anything it measured');
  assert.equal(atOnce({ target: { ...SATURATED, fdLimit: 64, fdsPeak: 64 } }), 'descriptors', 'descriptors before cpu');
  assert.equal(atOnce({ target: SATURATED, listener: fullQueue }), 'accept-queue', 'a queue the kernel overflows before an inferred cpu limit');
  assert.equal(atOnce({ target: SATURATED, serve: { poolWaitAvgMs: 9, poolQueryAvgMs: 1 } }, { serve: true, serveDb: true }), 'db-pool', 'the pool before cpu');
  assert.equal(atOnce({ target: SATURATED, serve: { loopDelayMeanMs: 40 } }, { serve: true }), 'cpu', 'cpu before the loop it delays');
  assert.equal(
    atOnce(
      { serve: { poolWaitAvgMs: 9, poolQueryAvgMs: 1 }, database: { processes: 3, cpuPercent: 190, busiest: { ...thread(99, 95, 6000), pid: 6000 } } },
      { serve: true, serveDb: true, databasePids: [POSTGRES_PID] },
    ),
    'database',
    'a CPU-bound database before the pool queued behind it',
  );
  // The list itself: every layer once, the generator first and the link last.
  assert.equal(new Set(PRECEDENCE).size, Object.values(LAYER).length - 1);
  assert.equal(PRECEDENCE[0], LAYER.LOAD_GENERATOR);
  assert.equal(PRECEDENCE[PRECEDENCE.length - 1], LAYER.LINK);
});

test('a crossing in the finer sweep places the layer at fewer users than the ramp step', () => {
  const steps = [
    step(16, { rps: 4000 }),
    step(64, { rps: 4050, target: { fdLimit: 64, fdsPeak: 64 }, load: { failed: 900, failureRate: 0.2, failures: { closed_early: 900 } } }),
    step(23, { phase: 'confirm', rps: 4020, target: { fdLimit: 64, fdsPeak: 62 } }),
  ];
  const verdict = decideBottleneck(steps, context());
  assert.equal(verdict.layer, 'descriptors');
  assert.equal(verdict.vus, 23);
});

test('ruled out layers carry their highest numbers and the threshold', () => {
  const steps = [
    step(1, { listener: { port: 3000, queuedPeak: 1, backlog: 511, sockets: 1 } }),
    step(4, { target: { fdsPeak: 120, busiestThread: thread(62, 58) }, listener: { port: 3000, queuedPeak: 7, backlog: 511, sockets: 1 } }),
  ];
  const verdict = decideBottleneck(steps, context());
  assert.equal(verdict.layer, 'none');
  const byLayer = new Map(verdict.ruledOut.map((r) => [r.layer, r]));
  const cpu = byLayer.get('cpu')!;
  assert.equal(cpu.peak, 62);
  assert.equal(cpu.vus, 4);
  assert.match(cpu.text, /runnable at most 62% of a step \(on a CPU 58%, at 4 VUs/);
  const queue = byLayer.get('accept-queue')!;
  assert.equal(queue.peak, 7);
  assert.match(queue.text, /held at most 7 of its backlog of 511/);
  const fds = byLayer.get('descriptors')!;
  assert.equal(fds.peak, 120);
  assert.match(fds.text, /120 of its 20,000 descriptors/);
  assert.match(byLayer.get('link')!.text, /loopback/);
  assert.match(byLayer.get('ports')!.text, /of 28,232 ephemeral ports/);
});

test('what cannot be seen is listed with the reason, and a PID hint when one was found', () => {
  const verdict = decideBottleneck([step(1), step(4)], context({ targetPids: [], listenerPid: 777 }));
  const unseen = new Map(verdict.unseen.map((u) => [u.layer, u.reason]));
  assert.match(unseen.get('cpu')!, /--pid 777/);
  assert.match(unseen.get('descriptors')!, /no --pid/);
  assert.match(unseen.get('event-loop')!, /\/stats/);
  assert.match(unseen.get('db-pool')!, /\/stats/);
  assert.match(unseen.get('database')!, /postgres/);
  assert.ok(!unseen.has('ports') && !unseen.has('load-generator') && !unseen.has('accept-queue'));
});

test('the sentences are built from the numbers measured', () => {
  const steps = rampFlatAt16({ target: SATURATED });
  const verdict = decideBottleneck(steps, context(), { reason: STOP.PLATEAU, text: 'throughput stopped growing' });
  const text = verdict.sentences.join(' ');
  assert.match(
    text,
    /^The first layer to give way was cpu, at 16 VUs: the main thread "node" of pid 4321 \(node\) was runnable 99% of the step at 16 VUs \(on a CPU 95%, waiting for one the rest\): it always had work/,
  );
  assert.match(text, /16 VUs made 4,000 req\/s, 2\.6% more than the 3,900 req\/s of 4 VUs/);
  assert.match(text, /Throughput peaked at 3,900 req\/s with 4 VUs and was flat at 16 VUs \(4,000 req\/s\)/);
  assert.match(text, /socketlab lab all-cores/);
  // Change the numbers and the sentence changes with them.
  const other = decideBottleneck(rampFlatAt16({ target: { busiestThread: thread(93.5, 71) } }), context());
  assert.match(other.sentences[0] as string, /runnable 93\.5% of the step at 16 VUs \(on a CPU 71%, waiting/);
});

test('none says why: max-vus reached, or a limit no watched layer explains', () => {
  const growing = decideBottleneck([step(1), step(4)], context(), { reason: STOP.MAX_VUS, text: 'the ramp reached --max-vus 4' });
  assert.match(growing.sentences[0] as string, /^Nothing gave way within 4 VUs: 4 VUs made 4,000 req\/s, 300% more than/);
  const hidden = decideBottleneck([step(1), step(4, { rps: 1010 })], context({ targetPids: [] }), { reason: STOP.PLATEAU, text: 'flat' });
  assert.equal(hidden.layer, 'none');
  assert.match(
    hidden.sentences[0] as string,
    /^Throughput stopped growing at 4 VUs, but no layer this run could see crossed its threshold: the limit is in a layer it could not see \(descriptors, database, db-pool, cpu, event-loop\)/,
  );
  assert.match(hidden.lever, /^make visible what this run could not see \(descriptors, database, db-pool, cpu, event-loop/);
  assert.equal(hidden.lab, null);
  assert.match(growing.lever, /raise --max-vus/);
});

test('findCrossings lists each visible layer once, ordered by users then precedence', () => {
  const steps = rampFlatAt16({ target: { ...SATURATED, fdLimit: 64, fdsPeak: 64 } });
  const crossings = findCrossings(steps, context());
  assert.deepEqual(
    crossings.map((c) => [c.layer, c.vus]),
    [
      ['descriptors', 16],
      ['cpu', 16],
    ],
  );
});

test('a crowded machine is stated: cores busy, watched processes a small share', () => {
  const crowded = [step(1, { machine: { cpuPercent: 195 }, target: { cpuPercent: 20 }, generator: { cpuPercent: 10 } }), step(4)];
  assert.match(describeCrowding(crowded, context()) ?? '', /crowded by other processes at 1 VU: at 1 VU its cores were 98% busy and the watched processes used 30% of one core/);
  assert.equal(describeCrowding([step(1, { machine: { cpuPercent: 195 }, target: { cpuPercent: 150 } })], context()), null);
});
