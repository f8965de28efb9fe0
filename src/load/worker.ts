/**
 * A load worker thread: one Engine with its share of the plan (workerData: EngineConfig).
 * Says "ready", starts on the coordinator's common instant, sends each second's counts and
 * histogram as it ends, then its final report, and waits to be terminated.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errnoCode } from '../errors.js';
import { encodeHistogram } from '../metrics/histogram.js';
import { Engine } from './engine.js';
import type { CoordinatorMessage, EngineConfig, WorkerMessage } from './types.js';

const port = parentPort;
if (port === null) throw new Error('src/load/worker.js runs as a worker thread of runLoad, not on its own');

const send = (message: WorkerMessage): void => port.postMessage(message);

try {
  const engine = new Engine(workerData as EngineConfig, {
    onSecond: (sample, histogram) => send({ type: 'second', sample, histogram: encodeHistogram(histogram) }),
  });
  port.on('message', (message: CoordinatorMessage) => {
    if (message.type === 'stop') {
      engine.stop();
      return;
    }
    engine.run(BigInt(message.startNs)).then(
      (report) => {
        const { histograms } = report;
        send({
          type: 'done',
          report: {
            ...report,
            histograms: {
              total: encodeHistogram(histograms.total),
              service: encodeHistogram(histograms.service),
              connect: encodeHistogram(histograms.connect),
              ttfb: encodeHistogram(histograms.ttfb),
            },
          },
        });
        // No port.close() here: the coordinator terminates the thread once it has every
        // report. A thread that ended itself could be seen exiting before its last message
        // was handled, which the coordinator would have to tell apart from a crash.
      },
      (error: unknown) => send({ type: 'failed', message: error instanceof Error ? error.message : String(error), code: errnoCode(error) }),
    );
  });
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'failed', message: error instanceof Error ? error.message : String(error), code: errnoCode(error) });
}
