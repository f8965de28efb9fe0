/**
 * The sampler's worker thread: takes samples on its own event loop, so neither the reads
 * (synchronous, see procfs.ts) nor the parsing ever run on the thread of a server under
 * test. With a panel it also draws it, writing straight to the terminal's file descriptor:
 * `process.stdout` in a worker is forwarded through the parent thread, which would put
 * the drawing back on the parent's event loop.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { createPanelRenderer, redrawFrame } from './panel.js';
import { createSamplerCore, scheduleTicks } from './sampler-core.js';
import type { FromWorker, ToWorker, WorkerData } from './types.js';

const data = workerData as WorkerData;
const port = parentPort;
if (port === null) throw new Error('sampler-worker.ts runs only as a worker thread');

const post = (message: FromWorker): void => port.postMessage(message);

const core = createSamplerCore(data.config, () => data.config.pids, 'worker-thread');
const panel =
  data.panel === null
    ? null
    : { config: data.panel, renderer: createPanelRenderer({ intervalMs: data.config.intervalMs, mode: 'worker-thread', unavailable: () => core.unavailable() }), lines: 0 };

let reasonsPosted = 0;
const schedule = scheduleTicks(
  data.config.intervalMs,
  async () => {
    const sample = await core.tick();
    if (data.postSamples) {
      const reasons = core.unavailable();
      if (reasons.length !== reasonsPosted) {
        reasonsPosted = reasons.length;
        post({ type: 'unavailable', reasons });
      }
      post({ type: 'sample', sample });
    }
    if (panel !== null) {
      const lines = panel.renderer.render(sample);
      try {
        fs.writeSync(panel.config.fd, redrawFrame(panel.lines, lines, panel.config.columns));
        panel.lines = lines.length;
      } catch {
        // The terminal went away (EPIPE, EIO): keep sampling for the JSON output.
      }
    }
  },
  (error) => core.fail(error),
);

post({ type: 'ready' });

port.on('message', (message: ToWorker) => {
  if (message.type !== 'stop') return;
  void schedule.stop().then(
    () => {
      post({ type: 'series', series: core.finish() });
      port.close();
    },
    (error: unknown) => post({ type: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});
