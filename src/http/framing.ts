/**
 * The header fields that decide where a message ends and whether the connection lives on
 * (RFC 9112 §6 and §9), read straight from the bytes of an already-validated field value.
 * Shared by the request and the response parser so that both read framing the same way:
 * two parsers that disagree about framing are how request smuggling happens (RFC 9112 §11.2).
 */
import { CH, HOST, OWS, TOKEN } from './byte-tables.js';
import { asciiBytes, equalsLowercaseToken } from './field-lines.js';

/** Special field names, lowercase, picked out by length first (undici's trick) and then compared. */
export const NAME = {
  HOST: asciiBytes('host'),
  EXPECT: asciiBytes('expect'),
  CONNECTION: asciiBytes('connection'),
  CONTENT_LENGTH: asciiBytes('content-length'),
  TRANSFER_ENCODING: asciiBytes('transfer-encoding'),
} as const;

const CLOSE = asciiBytes('close');
const KEEP_ALIVE = asciiBytes('keep-alive');
const CHUNKED = asciiBytes('chunked');
const CONTINUE_100 = asciiBytes('100-continue');

/** Largest value before the next decimal digit could pass Number.MAX_SAFE_INTEGER. */
const CONTENT_LENGTH_GUARD = Math.floor((Number.MAX_SAFE_INTEGER - 9) / 10);

/**
 * Content-Length = 1*DIGIT (RFC 9110 §8.6), parsed digit by digit: no sign, no spaces inside,
 * no list form ("5, 5"), nothing past Number.MAX_SAFE_INTEGER. Returns -1 when invalid.
 * Leading zeros are digits like any other (llhttp accepts "003" too).
 */
export function parseContentLength(buf: Uint8Array, start: number, end: number): number {
  if (start === end) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = (buf[i] as number) - CH.ZERO;
    if (digit < 0 || digit > 9) return -1;
    if (value > CONTENT_LENGTH_GUARD && value * 10 + digit > Number.MAX_SAFE_INTEGER) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Bits for the connection options we act on (RFC 9112 §9.3, §9.6). */
export const CONNECTION_OPTION = { CLOSE: 1, KEEP_ALIVE: 2 } as const;

/**
 * Call `visit(start, end)` for each element of a comma-separated list value with the OWS
 * around it trimmed, empty elements skipped (RFC 9110 §5.6.1). Stops early when `visit`
 * returns true, and says whether it did.
 */
function someListElement(buf: Uint8Array, start: number, end: number, visit: (elementStart: number, elementEnd: number) => boolean): boolean {
  let i = start;
  while (i < end) {
    while (i < end && (OWS[buf[i] as number] === 1 || buf[i] === CH.COMMA)) i++;
    const elementStart = i;
    while (i < end && buf[i] !== CH.COMMA) i++;
    let elementEnd = i;
    while (elementEnd > elementStart && OWS[buf[elementEnd - 1] as number] === 1) elementEnd--;
    if (elementEnd > elementStart && visit(elementStart, elementEnd)) return true;
  }
  return false;
}

/**
 * Which of `close` and `keep-alive` a Connection value lists (case-insensitive tokens in a
 * comma-separated list, RFC 9110 §7.6.1). Other options are ignored, as a server that does not
 * implement them may.
 */
export function readConnectionOptions(buf: Uint8Array, start: number, end: number): number {
  let options = 0;
  someListElement(buf, start, end, (elementStart, elementEnd) => {
    const length = elementEnd - elementStart;
    if (length === 5 && equalsLowercaseToken(buf, elementStart, CLOSE)) options |= CONNECTION_OPTION.CLOSE;
    else if (length === 10 && equalsLowercaseToken(buf, elementStart, KEEP_ALIVE)) options |= CONNECTION_OPTION.KEEP_ALIVE;
    return false;
  });
  return options;
}

/** Whether an Expect value lists 100-continue (RFC 9110 §10.1.1), ignoring case. */
export function listsContinue(buf: Uint8Array, start: number, end: number): boolean {
  return someListElement(buf, start, end, (elementStart, elementEnd) => elementEnd - elementStart === 12 && equalsLowercaseToken(buf, elementStart, CONTINUE_100));
}

/**
 * What the Transfer-Encoding field lines of one message say, accumulated line by line
 * (RFC 9110 §5.3: several lines of a list field are one list, in order).
 *
 *   Transfer-Encoding = #transfer-coding                   (RFC 9112 §6.1)
 *   transfer-coding   = token *( OWS ";" OWS transfer-parameter )
 */
export class TransferCodings {
  /** A Transfer-Encoding line was seen (even an empty one). */
  present = false;
  /** The last coding so far is chunked. */
  chunkedLast = false;
  /** chunked was followed by another coding, or applied twice (RFC 9112 §6.1: MUST NOT). */
  chunkedNotLast = false;
  /** A coding other than chunked was listed. */
  otherCoding = false;
  /** A list element was not token [ parameters ]. */
  malformed = false;

  reset(): void {
    this.present = false;
    this.chunkedLast = false;
    this.chunkedNotLast = false;
    this.otherCoding = false;
    this.malformed = false;
  }

  /** Add the codings listed in one field value. */
  addValue(buf: Uint8Array, start: number, end: number): void {
    this.present = true;
    let i = start;
    while (i < end) {
      while (i < end && (OWS[buf[i] as number] === 1 || buf[i] === CH.COMMA)) i++;
      if (i >= end) break;
      const codingStart = i;
      while (i < end && TOKEN[buf[i] as number] === 1) i++;
      const codingEnd = i;
      if (codingEnd === codingStart) {
        this.malformed = true;
        return;
      }
      // Parameters: only their shape is checked, since no coding we implement takes any.
      let hasParameters = false;
      while (i < end && buf[i] !== CH.COMMA) {
        const b = buf[i] as number;
        if (b === CH.SEMICOLON) hasParameters = true;
        else if (!hasParameters && OWS[b] !== 1) {
          this.malformed = true;
          return;
        }
        i++;
      }
      if (this.chunkedLast) this.chunkedNotLast = true;
      const isChunked = codingEnd - codingStart === 7 && equalsLowercaseToken(buf, codingStart, CHUNKED);
      if (isChunked && hasParameters) {
        // chunked defines no parameters (RFC 9112 §7).
        this.malformed = true;
        return;
      }
      this.chunkedLast = isChunked;
      if (!isChunked) this.otherCoding = true;
    }
  }
}

/**
 * The end of the uri-host at `start` (RFC 3986 §3.2.2: IP-literal in brackets, or IPv4address /
 * reg-name), or -1 when a byte outside the host grammar comes first.
 */
function scanUriHost(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  if (i < end && buf[i] === CH.LBRACKET) {
    i++;
    while (i < end && HOST[buf[i] as number] === 1 && buf[i] !== CH.LBRACKET && buf[i] !== CH.RBRACKET) i++;
    return i < end && buf[i] === CH.RBRACKET ? i + 1 : -1;
  }
  while (i < end && HOST[buf[i] as number] === 1 && buf[i] !== CH.COLON && buf[i] !== CH.LBRACKET && buf[i] !== CH.RBRACKET) i++;
  return i;
}

function allDigits(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i] as number;
    if (b < CH.ZERO || b > CH.NINE) return false;
  }
  return true;
}

/**
 * Host = uri-host [ ":" port ] (RFC 9110 §7.2), or empty when the target has no authority.
 * RFC 9112 §3.2: a server MUST answer 400 to a Host field with an invalid value.
 */
export function isValidHostValue(buf: Uint8Array, start: number, end: number): boolean {
  if (start === end) return true;
  const hostEnd = scanUriHost(buf, start, end);
  if (hostEnd < 0) return false;
  if (hostEnd === end) return true;
  return buf[hostEnd] === CH.COLON && allDigits(buf, hostEnd + 1, end);
}

/** authority-form = uri-host ":" port (RFC 9112 §3.2.3), with a non-empty host and port. */
export function isValidAuthorityForm(buf: Uint8Array, start: number, end: number): boolean {
  const hostEnd = scanUriHost(buf, start, end);
  return hostEnd > start && hostEnd + 1 < end && buf[hostEnd] === CH.COLON && allDigits(buf, hostEnd + 1, end);
}
