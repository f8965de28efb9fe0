/**
 * `--monitor` for `serve` and `load`: sample while the command runs, draw the live panel
 * when the stream is a terminal, and hand back the series for the --json output.
 *
 * By default everything (sampling, rendering, writing to the terminal) happens on a worker
 * thread, so a server monitoring itself adds no work to its request path: its own event
 * loop receives no message until stop().
 */
import type { Writable } from 'node:stream';
import { createPanelRenderer, redrawFrame } from './panel.js';
import { resolveSamplerConfig, startSampler, startWorkerSampler, type Sampler } from './sampler.js';
import type { Sample, Series } from './types.js';

export interface MonitorPanelOptions {
  /** Processes to show (a server: [process.pid]; a load generator: the server's PIDs). */
  pids: number[];
  /** Also follow the children of these PIDs (a postmaster's backends). */
  childrenOf?: number[];
  /** Listening ports whose accept queue and connections to show. */
  ports?: number[];
  /** Sample (and redraw) every this many ms. Default 1000. */
  intervalMs?: number;
  /** Where to draw. Default process.stderr, so stdout stays clean for results. */
  stream?: Writable & { isTTY?: boolean; fd?: number; columns?: number };
  /** Count FD kinds on the CPU budget. Default true. */
  fdKinds?: boolean;
  /** Sample on a worker thread. Default true. */
  thread?: boolean;
}

export interface MonitorPanel {
  /** Stop sampling, leave the last frame on screen, return the series. */
  stop(): Promise<Series>;
}

export const MONITOR_DEFAULTS = {
  intervalMs: 1000,
} as const;

export function startMonitorPanel(options: MonitorPanelOptions): MonitorPanel {
  const stream = options.stream ?? process.stderr;
  const config = resolveSamplerConfig({
    pids: options.pids,
    childrenOf: options.childrenOf,
    ports: options.ports,
    intervalMs: options.intervalMs ?? MONITOR_DEFAULTS.intervalMs,
    fdKinds: options.fdKinds ?? true,
  });
  const tty = stream.isTTY === true;
  // A pseudo-terminal can report 0 columns; fall back to $COLUMNS, then 120.
  const columns = (): number => stream.columns || Number(process.env.COLUMNS) || 120;
  const thread = options.thread ?? true;

  let sampler: Sampler;
  if (thread && (!tty || typeof stream.fd === 'number')) {
    // The worker draws on the terminal's fd itself (or nothing is drawn): no samples cross back.
    sampler = startWorkerSampler(config, tty ? { fd: stream.fd as number, columns: columns() } : null, false);
  } else {
    // No fd to hand over (a custom stream), or in-process by request: draw from this thread.
    let lines = 0;
    const renderer = createPanelRenderer({
      intervalMs: config.intervalMs,
      mode: thread ? 'worker-thread' : 'in-process',
      unavailable: () => sampler.unavailable(),
    });
    const draw = tty
      ? (sample: Sample): void => {
          const frame = renderer.render(sample);
          stream.write(redrawFrame(lines, frame, columns()));
          lines = frame.length;
        }
      : undefined;
    sampler = thread ? startWorkerSampler(config, null, true, draw) : startSampler({ ...config, thread: false, onSample: draw });
  }
  return { stop: () => sampler.stop() };
}
