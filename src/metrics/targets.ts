/**
 * What a person names on the command line to be measured: a PID (`1234`) or a listening
 * port (`:3000`). Shared by `inspect PID|:PORT` and `load --monitor PID,...,:PORT`.
 */
import { usageError } from '../errors.js';

/** Linux's largest pid_max (2^22); a larger number cannot be a PID anywhere Node runs. */
const MAX_PID = 4_194_304;

export type Target = { kind: 'pid'; pid: number } | { kind: 'port'; port: number };

/** Parse one target, or null when `text` is neither form. */
export function parseTarget(text: string): Target | null {
  if (/^\d{1,7}$/.test(text)) {
    const pid = Number(text);
    return pid >= 1 && pid <= MAX_PID ? { kind: 'pid', pid } : null;
  }
  if (/^:\d{1,5}$/.test(text)) {
    const port = Number(text.slice(1));
    return port >= 1 && port <= 65_535 ? { kind: 'port', port } : null;
  }
  return null;
}

/** `socketlab inspect` takes exactly one target. */
export function parseInspectTarget(text: string | undefined): Target {
  if (text === undefined) throw usageError('socketlab inspect: name a PID (1234) or a listening port (:3000) (see socketlab inspect --help)');
  const target = parseTarget(text);
  if (target === null) {
    throw usageError(`socketlab inspect: expected a PID (1234) or a listening port (:3000), got "${text}"`);
  }
  return target;
}

/** `--monitor 1234,5678,:3000` → { pids: [1234, 5678], ports: [3000] }. */
export function parseMonitorTargets(flag: string, text: string): { pids: number[]; ports: number[] } {
  const pids: number[] = [];
  const ports: number[] = [];
  for (const part of text.split(',')) {
    const target = parseTarget(part.trim());
    if (target === null) throw usageError(`--${flag} takes PIDs and :PORTs separated by commas (1234,:3000), got "${part}"`);
    if (target.kind === 'pid') pids.push(target.pid);
    else ports.push(target.port);
  }
  return { pids, ports };
}
