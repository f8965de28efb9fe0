/**
 * The bytes of every request, built before the run starts (autocannon's requestIterator
 * idea): the hot path picks a ready Buffer and writes it once. A path template with random
 * ids (`/uuid/{1..1000}`) is expanded up front into every distinct request when there are
 * at most PREBUILT_REQUESTS_MAX of them, and formatted per request only beyond that.
 */
import { usageError } from '../errors.js';
import { CLOSE_BY, PREBUILT_REQUESTS_MAX } from './constants.js';
import type { LoadPlan } from './types.js';

/** A piece of a path template: literal text, or a random integer in [min, max]. */
export type TemplatePart = { text: string } | { min: number; max: number };

const RANGE = /\{(-?\d+)\.\.(-?\d+)\}/g;

/**
 * Split `/uuid/{1..1000}?x={5..9}` into literal and range parts. Any other brace is an
 * error rather than a literal, so a typo like `{1-1000}` does not silently hit one URL.
 */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of template.matchAll(RANGE)) {
    const index = match.index ?? 0;
    if (index > last) parts.push({ text: template.slice(last, index) });
    const min = Number(match[1]);
    const max = Number(match[2]);
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min > max) {
      throw usageError(`--path-template: range ${match[0]} must be {MIN..MAX} with MIN <= MAX`);
    }
    parts.push({ min, max });
    last = index + match[0].length;
  }
  if (last < template.length) parts.push({ text: template.slice(last) });
  for (const part of parts) {
    if ('text' in part && /[{}]/.test(part.text)) {
      throw usageError(`--path-template: "${template}" has a brace that is not a {MIN..MAX} range, e.g. /uuid/{1..1000}`);
    }
    if ('text' in part && /[\s\x00-\x1f\x7f]/.test(part.text)) {
      throw usageError(`--path-template: "${template}" contains whitespace or control characters; percent-encode them`);
    }
  }
  if (!template.startsWith('/')) throw usageError(`--path-template must start with "/", got "${template}"`);
  return parts;
}

/** How many distinct paths a template expands to (Infinity past the prebuild limit). */
export function countTemplateExpansions(parts: readonly TemplatePart[]): number {
  let count = 1;
  for (const part of parts) {
    if ('min' in part) {
      count *= part.max - part.min + 1;
      if (count > PREBUILT_REQUESTS_MAX) return Infinity;
    }
  }
  return count;
}

/** The head (and body) of one request for `path`, as the generator writes it. */
export function formatRequest(plan: Pick<LoadPlan, 'method' | 'host' | 'port' | 'headers' | 'body' | 'keepAlive' | 'closeBy'>, path: string): string {
  // Host carries the port unless it is the default (RFC 9112 §3.2, RFC 9110 §7.2); IPv6 in brackets.
  const hostName = plan.host.includes(':') ? `[${plan.host}]` : plan.host;
  const host = plan.port === 80 ? hostName : `${hostName}:${plan.port}`;
  let head = `${plan.method} ${path} HTTP/1.1\r\nHost: ${host}\r\n`;
  const names = new Set(plan.headers.map(([name]) => name.toLowerCase()));
  if (!names.has('user-agent')) head += 'User-Agent: socketlab-load\r\n';
  for (const [name, value] of plan.headers) head += `${name}: ${value}\r\n`;
  // Keep-alive off and the server closing first: say so, as RFC 9112 §9.6 asks. Closing
  // first ourselves needs no header: a client may close an idle connection at any time,
  // and leaving it out keeps the server from racing us to the FIN.
  if (!plan.keepAlive && plan.closeBy === CLOSE_BY.SERVER && !names.has('connection')) head += 'Connection: close\r\n';
  if (plan.body !== null && !names.has('content-length')) head += `Content-Length: ${Buffer.byteLength(plan.body)}\r\n`;
  head += '\r\n';
  return plan.body === null ? head : head + plan.body;
}

/** Hands out the next request's bytes. */
export interface RequestSource {
  next(): Buffer;
  /** Every distinct request when pre-built (tests and the k6 script use it); empty otherwise. */
  readonly prebuilt: readonly Buffer[];
}

function randomInRange(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

export function createRequestSource(plan: LoadPlan): RequestSource {
  const parts = parseTemplate(plan.pathTemplate);
  const expansions = countTemplateExpansions(parts);
  if (expansions === 1) {
    const only = Buffer.from(formatRequest(plan, plan.pathTemplate), 'latin1');
    return { next: () => only, prebuilt: [only] };
  }
  if (expansions !== Infinity) {
    let paths = [''];
    for (const part of parts) {
      if ('text' in part) paths = paths.map((p) => p + part.text);
      else {
        const next: string[] = [];
        for (const p of paths) for (let n = part.min; n <= part.max; n++) next.push(p + n);
        paths = next;
      }
    }
    const buffers = paths.map((path) => Buffer.from(formatRequest(plan, path), 'latin1'));
    const count = buffers.length;
    return { next: () => buffers[Math.floor(Math.random() * count)] as Buffer, prebuilt: buffers };
  }
  return {
    next() {
      let path = '';
      for (const part of parts) path += 'text' in part ? part.text : String(randomInRange(part.min, part.max));
      return Buffer.from(formatRequest(plan, path), 'latin1');
    },
    prebuilt: [],
  };
}
