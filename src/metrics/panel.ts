/**
 * The live panel: a few lines redrawn in place on a terminal while `serve --monitor` or
 * `load --monitor` runs, and nothing at all when the output is not a terminal (the samples
 * still go to the --json output).
 *
 * The drawing is ANSI "cursor up N lines, clear to end of screen, print": no full-screen
 * takeover, so the last frame stays in the scrollback when the run ends. Lines are cut to
 * the terminal's width because a wrapped line would make the next "up N" miss.
 */
import { formatBytes, formatNumber } from '../format/numbers.js';
import { renderTable, type Cell } from '../format/table.js';
import { shortCounterName } from './kernel-counters.js';
import type { TcpStateCounts, TcpStateName } from './tcp-sockets.js';
import type { PortSample, ProcessSample, Sample } from './types.js';

/** Counters shown per second, in two lines: the listen path, then connections. */
const PANEL_COUNTERS = [
  ['TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPReqQFullDrop', 'TcpExt.SyncookiesSent', 'Tcp.PassiveOpens', 'Tcp.ActiveOpens'],
  ['Tcp.AttemptFails', 'Tcp.EstabResets', 'Tcp.RetransSegs', 'TcpExt.TCPTimeouts', 'TcpExt.TCPAbortOnData', 'TcpExt.TCPAbortOnClose'],
] as const;

/** TCP states always shown in the census line, even at zero; others only when present. */
const ALWAYS_SHOWN_STATES: readonly TcpStateName[] = ['ESTABLISHED', 'SYN_RECV', 'TIME_WAIT', 'CLOSE_WAIT'];

export interface PanelRenderer {
  /** The panel's lines for this sample (no trailing newline, not cut to width). */
  render(sample: Sample): string[];
}

export interface PanelContext {
  intervalMs: number;
  mode: 'worker-thread' | 'in-process';
  /** Reasons some numbers are missing, shown at the bottom. */
  unavailable(): readonly string[];
}

/**
 * Keeps what a single sample lacks: the previous reading of each PID (for per-second
 * context switches), the last census and accept queues (taken on a budget, not every
 * sample), and recent counter changes (summed over about a second so the rates are not
 * 100 ms noise).
 */
export function createPanelRenderer(context: PanelContext): PanelRenderer {
  const previous = new Map<number, { t: number; voluntary: number; involuntary: number }>();
  const rates = new Map<number, { voluntary: number; involuntary: number }>();
  let lastTcp: { t: number; counts: TcpStateCounts } | null = null;
  let lastPorts: { t: number; ports: PortSample[] } | null = null;
  const counterWindow: { t: number; counters: Record<string, number> }[] = [];
  const lastKinds = new Map<number, ProcessSample['fdKinds']>();

  const processRow = (p: ProcessSample, t: number): Cell[] => {
    // Context switches are read on a budget, not every sample: show the last rate known.
    if (p.ctxSwitches !== null) {
      const before = previous.get(p.pid);
      if (before !== undefined && t > before.t) {
        rates.set(p.pid, {
          voluntary: Math.round(((p.ctxSwitches.voluntary - before.voluntary) / (t - before.t)) * 1000),
          involuntary: Math.round(((p.ctxSwitches.involuntary - before.involuntary) / (t - before.t)) * 1000),
        });
      }
      previous.set(p.pid, { t, voluntary: p.ctxSwitches.voluntary, involuntary: p.ctxSwitches.involuntary });
    }
    const rate = p.alive ? rates.get(p.pid) : undefined;
    if (p.fdKinds !== null) lastKinds.set(p.pid, p.fdKinds);
    const kinds = lastKinds.get(p.pid) ?? null;
    const limit = p.fdLimit === null ? null : p.fdLimit.soft === 'unlimited' ? '∞' : formatNumber(p.fdLimit.soft);
    return [
      String(p.pid),
      p.alive ? (p.name ?? '?') : `${p.name ?? '?'} (exited)`,
      p.cpuPercent,
      p.rssBytes === null ? null : formatBytes(p.rssBytes),
      p.fds,
      limit,
      kinds === null ? null : `${kinds.socket}/${kinds.file}/${kinds.pipe}/${kinds.anon}`,
      p.threads,
      rate?.voluntary ?? null,
      rate?.involuntary ?? null,
    ];
  };

  const statesText = (counts: TcpStateCounts): string =>
    (Object.entries(counts) as [TcpStateName, number][])
      .filter(([state, n]) => n > 0 || ALWAYS_SHOWN_STATES.includes(state))
      .filter(([state]) => state !== 'LISTEN')
      .map(([state, n]) => `${state} ${formatNumber(n)}`)
      .join(' · ');

  const portLine = (port: PortSample, ageMs: number): string => {
    const queues =
      port.listeners.length === 0
        ? 'nothing listening'
        : port.listeners.map((l) => `accept queue ${l.queued} / ${l.max ?? '?'}${port.listeners.length > 1 ? ` (${l.address})` : ''}`).join(', ');
    const census = port.census === null ? '' : `  ·  server side: ${statesText(port.census.server)}  ·  clients here: ${statesText(port.census.client)}`;
    return `  :${port.port}  ${queues}${census}${ageMs >= 1500 ? `  (${(ageMs / 1000).toFixed(1)} s ago)` : ''}`;
  };

  return {
    render(sample) {
      const lines: string[] = [];
      const budgetPct = ((sample.costUs / 1000 / context.intervalMs) * 100).toFixed(2);
      lines.push(
        `socketlab monitor · ${(sample.t / 1000).toFixed(1)} s · every ${formatNumber(context.intervalMs)} ms · last sample cost ${formatNumber(sample.costUs / 1000)} ms (${budgetPct}% of a core, ${context.mode})`,
      );
      lines.push(
        renderTable(
          ['PID', 'name', 'CPU%', 'RSS', 'FDs', 'NOFILE', 'sock/file/pipe/anon', 'threads', 'vol cs/s', 'invol cs/s'],
          sample.processes.map((p) => processRow(p, sample.t)),
        ),
      );

      if (sample.ports !== null) lastPorts = { t: sample.t, ports: sample.ports };
      if (sample.tcp !== null) lastTcp = { t: sample.t, counts: sample.tcp };
      if (lastPorts !== null) for (const port of lastPorts.ports) lines.push(portLine(port, sample.t - lastPorts.t));
      if (lastTcp !== null) {
        const age = sample.t - lastTcp.t;
        lines.push(`  TCP   ${statesText(lastTcp.counts)}${age >= 1500 ? `  (census ${(age / 1000).toFixed(1)} s ago)` : ''}`);
      }

      if (sample.counters !== null) {
        counterWindow.push({ t: sample.t, counters: sample.counters });
        // Keep about one second (and at least two samples) for the rates.
        while (counterWindow.length > 2 && sample.t - (counterWindow[1] as { t: number }).t >= 1000) counterWindow.shift();
        const first = counterWindow[0] as { t: number };
        const spanMs = counterWindow.length > 1 ? sample.t - first.t : context.intervalMs;
        for (const names of PANEL_COUNTERS) {
          const parts = names.map((name) => {
            // The first sample's change is since the previous window's end: skip it.
            let sum = 0;
            for (let i = 1; i < counterWindow.length; i++) sum += (counterWindow[i] as { counters: Record<string, number> }).counters[name] ?? 0;
            const perSecond = counterWindow.length > 1 ? (sum / spanMs) * 1000 : 0;
            return `${shortCounterName(name)} ${formatNumber(Math.round(perSecond))}`;
          });
          lines.push(`  /s    ${parts.join(' · ')}`);
        }
      }
      for (const reason of context.unavailable()) lines.push(`  n/a   ${reason}`);
      return lines.flatMap((line) => line.split('\n'));
    },
  };
}

/** The escape sequences to replace the previous frame (of `previousLines` lines) with `lines`. */
export function redrawFrame(previousLines: number, lines: readonly string[], columns: number): string {
  const width = Math.max(20, columns - 1);
  const cut = lines.map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line));
  // CSI n F: cursor to the start of the line n up; CSI J: clear from the cursor to the end.
  const up = previousLines > 0 ? `\x1b[${previousLines}F\x1b[J` : '';
  return `${up}${cut.join('\n')}\n`;
}
