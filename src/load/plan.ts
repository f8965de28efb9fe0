/**
 * LoadOptions → LoadPlan: every check happens here, before a socket opens, so a lab or a
 * user gets one clear LabError instead of a run that fails a thousand times the same way.
 */
import net from 'node:net';
import { EXIT, LAB_ERR, LabError, usageError } from '../errors.js';
import { parseDuration } from '../format/durations.js';
import { CLOSE_BY, LOAD_DEFAULTS, LOAD_LIMITS, LOAD_MODEL, type LoadModel } from './constants.js';
import { parseTemplate } from './request-bytes.js';
import { parseThreshold } from './thresholds.js';
import type { LoadOptions, LoadPlan, Stage } from './types.js';

/** Parse `--stages 10s:100,30s:1000,10s:0` (duration:target, as k6's stages). */
export function parseStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const item of text.split(',')) {
    const match = item.trim().match(/^([^:]+):(\d+)$/);
    const durationMs = match ? parseDuration(match[1] as string, 's') : undefined;
    if (match === null || durationMs === undefined) {
      throw usageError(`--stages must be DURATION:VUS[,DURATION:VUS...] like 10s:100,30s:1000,10s:0, got "${item}"`);
    }
    stages.push({ durationMs, target: Number(match[2]) });
  }
  return stages;
}

/** Parse and check the target URL: plain http only, with a host. */
export function parseTargetUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LabError(LAB_ERR.BAD_URL, `"${text}" is not a URL; give one like http://127.0.0.1:3000/age?birthdate=1993-05-01`, {
      exitCode: EXIT.USAGE,
    });
  }
  if (url.protocol !== 'http:') {
    const hint = url.protocol === 'https:' ? ' (TLS would measure the TLS library, not the server; point it at the plain-HTTP port)' : '';
    throw new LabError(LAB_ERR.BAD_URL, `socketlab load drives http:// URLs only, got ${url.protocol}//${hint}`, { exitCode: EXIT.USAGE });
  }
  if (url.hostname === '') throw new LabError(LAB_ERR.BAD_URL, `"${text}" has no host`, { exitCode: EXIT.USAGE });
  if (url.username !== '' || url.password !== '') {
    throw new LabError(LAB_ERR.BAD_URL, `"${text}" has credentials; pass an Authorization header with --header instead`, { exitCode: EXIT.USAGE });
  }
  return url;
}

function checkWhole(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw usageError(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
  return value;
}

function checkMillis(name: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) throw usageError(`${name} must be from ${min} to ${max} ms, got ${value}`);
  return value;
}

function inferModel(options: LoadOptions): LoadModel {
  if (options.model !== undefined) return options.model;
  if (options.connections !== undefined) return LOAD_MODEL.HOLD;
  if (options.rate !== undefined) return LOAD_MODEL.OPEN;
  return LOAD_MODEL.CLOSED;
}

/** Validate options and fill in defaults. Throws LabError (exit 2) on the first problem found. */
export function resolveLoadPlan(options: LoadOptions): LoadPlan {
  const url = parseTargetUrl(options.url);
  const model = inferModel(options);
  if (!Object.values(LOAD_MODEL).includes(model)) throw usageError(`model must be one of ${Object.values(LOAD_MODEL).join(', ')}, got "${model}"`);

  const closedOnly = options.vus !== undefined || options.stages !== undefined || options.thinkMs !== undefined;
  if (model !== LOAD_MODEL.CLOSED && closedOnly) {
    throw usageError(
      `--vus, --stages and --think belong to the closed model; the ${model} model ${model === LOAD_MODEL.OPEN ? 'is set by --rate (use --max-vus for its connection pool)' : 'is set by --hold'}`,
    );
  }
  if (model !== LOAD_MODEL.OPEN && (options.rate !== undefined || options.maxVus !== undefined)) {
    throw usageError(`--rate and --max-vus belong to the open model; drop them or drop --${model === LOAD_MODEL.HOLD ? 'hold' : 'vus/--stages'}`);
  }
  if (model !== LOAD_MODEL.HOLD && (options.connections !== undefined || options.connectConcurrency !== undefined)) {
    throw usageError('--hold and --connect-concurrency belong to the hold model');
  }
  if (options.stages !== undefined && options.vus !== undefined) throw usageError('--stages sets the VUs over time; drop --vus');
  if (options.stages !== undefined && options.durationMs !== undefined) throw usageError('--stages sets the run length; drop --duration');

  let stages: Stage[] | null = null;
  let durationMs = options.durationMs ?? LOAD_DEFAULTS.DURATION_MS;
  let vus = 0;
  let rate = 0;
  let maxVus = 0;
  let connections = 0;
  if (model === LOAD_MODEL.CLOSED) {
    if (options.stages !== undefined) {
      if (options.stages.length === 0) throw usageError('--stages needs at least one DURATION:VUS stage');
      stages = options.stages.map((stage, i) => ({
        durationMs: checkMillis(`stage ${i + 1} duration`, stage.durationMs, 0, LOAD_LIMITS.DURATION_MS),
        target: checkWhole(`stage ${i + 1} target`, stage.target, 0, LOAD_LIMITS.VUS),
      }));
      durationMs = stages.reduce((sum, stage) => sum + stage.durationMs, 0);
      vus = Math.max(...stages.map((stage) => stage.target));
      if (vus === 0) throw usageError('--stages never goes above 0 VUs; give a stage a target above 0');
    } else {
      vus = checkWhole('--vus', options.vus ?? LOAD_DEFAULTS.VUS, 1, LOAD_LIMITS.VUS);
    }
  } else if (model === LOAD_MODEL.OPEN) {
    if (options.rate === undefined) throw usageError('the open model needs --rate R/s');
    if (!Number.isFinite(options.rate) || options.rate <= 0 || options.rate > LOAD_LIMITS.RATE) {
      throw usageError(`--rate must be above 0 and at most ${LOAD_LIMITS.RATE}/s, got ${options.rate}`);
    }
    rate = options.rate;
    const fromRate = Math.ceil(rate * LOAD_DEFAULTS.MAX_VUS_LATENCY_S);
    maxVus = checkWhole('--max-vus', options.maxVus ?? Math.min(LOAD_DEFAULTS.MAX_VUS_MAX, Math.max(LOAD_DEFAULTS.MAX_VUS_MIN, fromRate)), 1, LOAD_LIMITS.VUS);
  } else {
    connections = checkWhole('--hold', options.connections ?? 0, 1, LOAD_LIMITS.CONNECTIONS);
  }
  checkMillis('--duration', durationMs, 1, LOAD_LIMITS.DURATION_MS);
  if (durationMs <= 0) throw usageError('the run must last longer than 0 s');

  const keepAlive = options.keepAlive ?? true;
  const closeBy = options.closeBy ?? CLOSE_BY.CLIENT;
  if (!Object.values(CLOSE_BY).includes(closeBy)) throw usageError(`--close-by must be client or server, got "${closeBy}"`);
  if (closeBy === CLOSE_BY.SERVER && keepAlive) throw usageError('--close-by applies with --no-keepalive only');

  const localAddresses = [...(options.localAddresses ?? [])];
  for (const address of localAddresses) {
    if (net.isIP(address) === 0) throw usageError(`--local-address takes IP addresses, got "${address}"`);
  }

  const method = (options.method ?? LOAD_DEFAULTS.METHOD).toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw usageError(`--method must be an HTTP method such as GET or POST, got "${options.method}"`);
  const headers: [string, string][] = [];
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    // RFC 9110 §5.1 token for the name; no CR/LF anywhere (header injection).
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || /[\r\n]/.test(value)) {
      throw usageError(`--header "${name}: ${value}" is not a valid header; use "Name: value" on one line`);
    }
    if (/^(host|content-length|transfer-encoding)$/i.test(name)) throw usageError(`--header ${name} is set by socketlab load itself`);
    headers.push([name, value]);
  }

  const pathTemplate = options.pathTemplate ?? `${url.pathname}${url.search}`;
  parseTemplate(pathTemplate);

  const thresholds = [...(options.thresholds ?? [])];
  for (const expression of thresholds) parseThreshold(expression);

  const workers = checkWhole('--workers', options.workers ?? LOAD_DEFAULTS.WORKERS, 1, LOAD_LIMITS.WORKERS);
  if (model === LOAD_MODEL.OPEN && maxVus < workers) {
    throw usageError(`--max-vus ${maxVus} is fewer than --workers ${workers}: each worker needs at least one connection`);
  }

  return {
    model,
    url: url.href,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? 80 : Number(url.port),
    pathTemplate,
    method,
    headers,
    body: options.body ?? null,
    vus,
    stages,
    rate,
    maxVus,
    connections,
    connectConcurrency: checkWhole('--connect-concurrency', options.connectConcurrency ?? LOAD_DEFAULTS.CONNECT_CONCURRENCY, 1, LOAD_LIMITS.CONNECTIONS),
    durationMs,
    thinkMs: checkMillis('--think', options.thinkMs ?? 0, 0, LOAD_LIMITS.DURATION_MS),
    keepAlive,
    closeBy,
    connectTimeoutMs: checkMillis('--connect-timeout', options.connectTimeoutMs ?? LOAD_DEFAULTS.CONNECT_TIMEOUT_MS, 1, LOAD_LIMITS.DURATION_MS),
    timeoutMs: checkMillis('--timeout', options.timeoutMs ?? LOAD_DEFAULTS.TIMEOUT_MS, 0, LOAD_LIMITS.DURATION_MS),
    gracefulStopMs: checkMillis('--graceful-stop', options.gracefulStopMs ?? LOAD_DEFAULTS.GRACEFUL_STOP_MS, 0, LOAD_LIMITS.DURATION_MS),
    localAddresses,
    workers,
    thresholds,
  };
}

/** The VU target of a ramping plan at `elapsedMs` (linear within a stage, from 0 at the start, as k6's ramping-vus with startVUs 0). */
export function stageTarget(stages: readonly Stage[], elapsedMs: number): number {
  let from = 0;
  // The first ramp tick can come a fraction of a millisecond before the start: Node's timers
  // run on libuv's whole-millisecond loop clock, performance.now() does not. Extrapolated
  // backwards, a steep first stage would ask for a negative number of VUs.
  let t = Math.max(0, elapsedMs);
  for (const stage of stages) {
    if (t < stage.durationMs) return Math.round(from + ((stage.target - from) * t) / stage.durationMs);
    t -= stage.durationMs;
    from = stage.target;
  }
  return from;
}

/** Worker `index`'s share of `total` over `count` workers: shares differ by at most one and sum to total. */
export function shareOf(total: number, index: number, count: number): number {
  return Math.floor(total / count) + (index < total % count ? 1 : 0);
}
