/**
 * The methods this server recognises: those in IANA's HTTP Method Registry (RFC 9110 §16.1),
 * plus QUERY (draft-ietf-httpbis-safe-method-w-body, which llhttp knows too). PRI is registered
 * only to reserve the HTTP/2 preface (RFC 9113 §3.4) and is left out.
 *
 * A method outside this list but still a token is answered 501 Not Implemented (RFC 9110 §9.1:
 * "An origin server that receives a request method that is unrecognized or not implemented
 * SHOULD respond with the 501 status code"); whether a route allows a known method is the
 * app's business (405). Methods are case-sensitive (RFC 9110 §9.1).
 *
 * Matching returns the one string constant for the method, so no string is made per request.
 */

const KNOWN_METHODS = [
  // RFC 9110 §9.3 and PATCH (RFC 5789): listed first, so they are found first in their bucket.
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
  'QUERY',
  // WebDAV, DeltaV, CalDAV and friends (the rest of the IANA registry).
  'ACL',
  'BASELINE-CONTROL',
  'BIND',
  'CHECKIN',
  'CHECKOUT',
  'COPY',
  'LABEL',
  'LINK',
  'LOCK',
  'MERGE',
  'MKACTIVITY',
  'MKCALENDAR',
  'MKCOL',
  'MKREDIRECTREF',
  'MKWORKSPACE',
  'MOVE',
  'ORDERPATCH',
  'PROPFIND',
  'PROPPATCH',
  'REBIND',
  'REPORT',
  'SEARCH',
  'UNBIND',
  'UNCHECKOUT',
  'UNLINK',
  'UNLOCK',
  'UPDATE',
  'UPDATEREDIRECTREF',
  'VERSION-CONTROL',
] as const;

export type KnownMethod = (typeof KNOWN_METHODS)[number];

/** Methods grouped by length, each with its bytes, so a lookup compares a handful at most. */
const BY_LENGTH: { name: KnownMethod; bytes: Uint8Array }[][] = [];
for (const name of KNOWN_METHODS) {
  const bucket = BY_LENGTH[name.length] ?? [];
  BY_LENGTH[name.length] = bucket;
  bucket.push({ name, bytes: Uint8Array.from(name, (c) => c.charCodeAt(0)) });
}

/** The interned method named by buf[start, end), or null when it is not one we know. */
export function matchMethod(buf: Uint8Array, start: number, end: number): KnownMethod | null {
  const length = end - start;
  // The method that carries nearly all traffic, compared without a loop.
  if (length === 3 && buf[start] === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return 'GET';
  const bucket = BY_LENGTH[length];
  if (bucket === undefined) return null;
  for (const candidate of bucket) {
    const bytes = candidate.bytes;
    let k = 0;
    while (k < length && buf[start + k] === bytes[k]) k++;
    if (k === length) return candidate.name;
  }
  return null;
}

export function isKnownMethod(name: string): name is KnownMethod {
  return (KNOWN_METHODS as readonly string[]).includes(name);
}

export { KNOWN_METHODS };
