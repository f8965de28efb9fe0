/**
 * Credentials and connection URLs: how an embedded cluster's password is made, where it is
 * kept, how a URL points at it, and how every form of a password is masked before a URL
 * reaches a log line, /stats or an error message.
 *
 * The embedded cluster's URL carries no password, only `passfile=PATH`, a standard libpq
 * connection parameter naming a 0600 file (libpq's own password-file format) that only the
 * user who started the cluster can read. Such a URL is safe to print, to pass on a command
 * line (`ps` shows every argv to every local user) and to show in /stats: knowing it gives
 * nothing to a user who cannot read the file. libpq (pg-native, psql, pgbench) reads the file
 * itself; for the pure-JS `pg` driver, which ignores `passfile`, pgClientConfig() reads it.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { LAB_ERR, LabError, errnoCode } from '../errors.js';

/** Query parameters whose value is a secret (libpq's names; `sslpassword` unlocks a client key). */
const SECRET_PARAMS = new Set(['password', 'sslpassword']);
const MASK = '***';

/**
 * Parse a postgres URL. A URL built by appending `?key=value` to one that already has a query
 * (`${url}?application_name=x`, an easy slip once URLs carry `passfile`) reads the later `?`
 * as `&`: no parameter value we write contains a `?`, so nothing is lost.
 */
export function parseDbUrl(url: string): URL {
  const at = url.indexOf('?');
  const fixed = at === -1 ? url : `${url.slice(0, at + 1)}${url.slice(at + 1).replaceAll('?', '&')}`;
  return new URL(fixed);
}

/**
 * The URL with `params` set (undefined removes one). The query is written with
 * encodeURIComponent, not URLSearchParams: the latter writes a space as `+`, which libpq's
 * URI parser does not decode (it only decodes %XX), so `options=-c x=1 -c y=2` would break.
 */
export function setUrlParams(url: string, params: Record<string, string | undefined>): string {
  const parsed = parseDbUrl(url);
  const entries = new Map<string, string>(parsed.searchParams);
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) entries.delete(key);
    else entries.set(key, value);
  }
  const query = [...entries].map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join('&');
  parsed.search = '';
  const base = parsed.toString();
  return query === '' ? base : `${base}?${query}`;
}

export function getUrlParam(url: string, name: string): string | null {
  try {
    return parseDbUrl(url).searchParams.get(name);
  } catch {
    return null;
  }
}

/** A random password for one cluster: 32 hex digits (128 bits), nothing to escape anywhere. */
export function generatePassword(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The SCRAM-SHA-256 secret Postgres stores for `password` (RFC 5802 §3, RFC 7677; the same
 * computation as PostgreSQL's scram_build_secret in src/common/scram-common.c, 4096
 * iterations as its default). Handing Postgres this instead of the password means the
 * plaintext never reaches the server, so no statement or error log can ever show it.
 * `password` must be ASCII (SASLprep leaves ASCII alone); ours is hex.
 */
export function scramSecret(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export interface PassfileEntry {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

/** libpq's password-file escaping: `:` and `\` are backslash-escaped. */
function escapeField(value: string): string {
  return value.replace(/[\\:]/g, (c) => `\\${c}`);
}

/** One line of a password file, as libpq reads it (https://www.postgresql.org/docs/current/libpq-pgpass.html). */
export function formatPassfileLine(entry: PassfileEntry): string {
  return [entry.host, String(entry.port), entry.database, entry.user, entry.password].map(escapeField).join(':');
}

function splitPassfileLine(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\' && i + 1 < line.length) current += line[++i];
    else if (c === ':' && fields.length < 4) {
      fields.push(current);
      current = '';
    } else current += c;
  }
  fields.push(current);
  return fields;
}

/** The password a password file gives for this host, port, database and user (`*` matches anything), or null. */
export function findPassfilePassword(text: string, want: { host: string; port: number; database: string; user: string }): string | null {
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [host, port, database, user, password] = splitPassfileLine(line);
    const matches = (field: string | undefined, value: string): boolean => field === '*' || field === value;
    if (password !== undefined && matches(host, want.host) && matches(port, String(want.port)) && matches(database, want.database) && matches(user, want.user)) {
      return password;
    }
  }
  return null;
}

/** What the pure-JS `pg` client needs: a connection string it can log in with. */
export interface PgClientSettings {
  /** Holds the password read from `passfile`: hand it to pg.Client, never to a log. */
  connectionString: string;
}

/**
 * pg reads a password from the URL but ignores `passfile=` (and its own ~/.pgpass fallback
 * is deprecated), so a URL that names a password file gets the password read here, with
 * libpq's matching rules, and put into the connection string pg is given (pg lets a parsed
 * connection string override an explicit `password` option). A URL with a password of its
 * own is used as it is.
 */
export function pgClientConfig(url: string): PgClientSettings {
  let parsed: URL;
  try {
    parsed = parseDbUrl(url);
  } catch {
    return { connectionString: url };
  }
  const passfile = parsed.searchParams.get('passfile');
  if (parsed.password !== '' || passfile === null) return { connectionString: parsed.toString() };
  let text: string;
  try {
    text = fs.readFileSync(passfile, 'utf8');
  } catch (error) {
    throw new LabError(
      LAB_ERR.DB_QUERY,
      `cannot read the password file ${passfile} (${errnoCode(error) ?? 'error'}): only the user who started the cluster can; run as that user`,
      { cause: error },
    );
  }
  const user = decodeURIComponent(parsed.username) || 'postgres';
  const password = findPassfilePassword(text, {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    database: decodeURIComponent(parsed.pathname.slice(1)) || user,
    user,
  });
  if (password !== null) {
    parsed.username = encodeURIComponent(user);
    parsed.password = encodeURIComponent(password);
  }
  return { connectionString: parsed.toString() };
}

/**
 * host:port/database of a URL, for messages that may reach an HTTP body (a 503's reason):
 * where, without any parameter, credential or file path.
 */
export function describeServer(url: string): string {
  try {
    const parsed = parseDbUrl(url);
    return `${parsed.hostname || 'localhost'}:${parsed.port || 5432}/${decodeURIComponent(parsed.pathname.slice(1)) || decodeURIComponent(parsed.username) || 'postgres'}`;
  } catch {
    return 'the database';
  }
}

/**
 * A connection string with every credential masked, for logs, /stats and error messages:
 * the password of `user:password@`, the `password=` and `sslpassword=` query parameters
 * (whatever their percent-encoding: libpq decodes keys too), and the same keywords in a
 * libpq keyword/value string (`host=h password='a b'`). `passfile=` is kept: it names a
 * file, it is not a secret.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = parseDbUrl(url);
    const secrets = [...parsed.searchParams.keys()].filter((key) => SECRET_PARAMS.has(key.toLowerCase()));
    if (parsed.password === '' && secrets.length === 0) return parsed.toString();
    if (parsed.password !== '') parsed.password = MASK;
    const params: Record<string, string> = {};
    for (const key of secrets) params[key] = MASK;
    // setUrlParams rewrites the whole query, so a key spelt with %-escapes is masked too.
    return setUrlParams(parsed.toString(), params);
  } catch {
    return redactKeywordString(url);
  }
}

/** The keyword/value form, and anything unparsable that looks like `user:password@host`. */
function redactKeywordString(text: string): string {
  return text.replace(/\b((?:ssl)?password)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/gi, `$1=${MASK}`).replace(/(\/\/[^:@/\s]*:)[^@\s]*@/g, `$1${MASK}@`);
}
