/**
 * Byte classes for the HTTP/1.1 grammar, one `Uint8Array(256)` per class: a lookup is one
 * indexed load, cheaper than a chain of range comparisons and the same cost for every byte.
 * A table holds 1 where the byte belongs to the class and 0 elsewhere, except HEX_VALUE, which
 * holds the digit's value (or NOT_HEX).
 *
 * Idea from undici's and llhttp's token maps; the ranges here are read straight from the ABNF
 * of RFC 9110 §5.6.2 (token), §5.5 (field values) and RFC 3986 (URIs).
 */

function buildTable(fill: (byte: number) => boolean): Uint8Array {
  const table = new Uint8Array(256);
  for (let byte = 0; byte < 256; byte++) table[byte] = fill(byte) ? 1 : 0;
  return table;
}

const isAlpha = (b: number): boolean => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
const inSet =
  (set: string) =>
  (b: number): boolean =>
    set.includes(String.fromCharCode(b));

/**
 * tchar (RFC 9110 §5.6.2): the bytes of a method, a header name, a transfer coding, a chunk
 * extension name.
 *   0x00-0x20  CTLs and SP: no
 *   0x21-0x7E  visible ASCII except the delimiters  "(),/:;<=>?@[\]{}  : yes
 *   0x7F       DEL: no
 *   0x80-0xFF  non-ASCII: no
 */
export const TOKEN = buildTable((b) => isAlpha(b) || isDigit(b) || inSet("!#$%&'*+-.^_`|~")(b));

/**
 * Bytes allowed inside a field value (RFC 9110 §5.5: field-vchar, plus SP and HTAB between them).
 *   0x00-0x08  CTLs (NUL among them): no
 *   0x09       HTAB: yes
 *   0x0A-0x1F  CTLs (LF and CR end the line; the parser handles them before this table): no
 *   0x20-0x7E  SP and VCHAR: yes
 *   0x7F       DEL, a CTL: no
 *   0x80-0xFF  obs-text: yes (kept for compatibility; decoded as latin1, one char per byte)
 * §5.5 says CR, LF and NUL MUST be rejected (or replaced) and lets a recipient keep other CTLs
 * "for robustness" only in a safe context. A server cannot know the context downstream code
 * will use a value in, so every CTL except HTAB is rejected, as llhttp does in strict mode.
 */
export const FIELD_VALUE = buildTable((b) => b === 0x09 || (b >= 0x20 && b !== 0x7f));

/**
 * SP and HTAB: OWS / BWS (RFC 9110 §5.6.3).
 */
export const OWS = buildTable((b) => b === 0x20 || b === 0x09);

/**
 * Bytes allowed in a request-target (RFC 9112 §3.2).
 *   0x00-0x20  CTLs and SP: no (SP ends the target)
 *   0x21-0x7E  visible ASCII: yes, except
 *     0x23 '#' no: a fragment is never part of a request-target (RFC 9112 §3.2.1), and a
 *              router that saw one could disagree with a cache about which resource is meant
 *   0x7F       DEL: no
 *   0x80-0xFF  no: a URI is ASCII (RFC 3986 §2); clients percent-encode UTF-8
 * RFC 3986 also leaves out  " < > \ ^ ` { | }  but those cannot change message framing and
 * browsers send | ^ { } unencoded (WHATWG URL's percent-encode sets), so they are accepted,
 * as llhttp accepts them: RFC 9112 §3.2 makes rejecting an invalid target a SHOULD. See
 * docs/conformance.md.
 */
export const TARGET = buildTable((b) => b >= 0x21 && b <= 0x7e && b !== 0x23);

/**
 * Bytes of a Host value or an authority-form target: uri-host [ ":" port ] (RFC 3986 §3.2.2):
 * unreserved, sub-delims, pct-encoded ('%'), ':' for the port and '[' ']' for an IP-literal.
 *   0x00-0x20  no
 *   0x21-0x7E  ALPHA DIGIT - . _ ~  ! $ & ' ( ) * + , ; =  %  :  [ ]  yes; the rest
 *              (" # / < > ? @ \ ^ ` { | }) would make the value carry a path, a query or
 *              userinfo, which RFC 9110 §7.2 and §4.2.1 rule out, so no
 *   0x7F-0xFF  no
 */
export const HOST = buildTable((b) => isAlpha(b) || isDigit(b) || inSet("-._~!$&'()*+,;=%:[]")(b));

/**
 * The scheme of an absolute-form target (RFC 3986 §3.1): ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
 */
export const SCHEME = buildTable((b) => isAlpha(b) || isDigit(b) || inSet('+-.')(b));

/**
 * Bytes allowed in a reason-phrase (RFC 9112 §4): HTAB, SP, VCHAR, obs-text. Same as a field value.
 */
export const REASON_PHRASE = FIELD_VALUE;

/**
 * qdtext of a quoted-string (RFC 9110 §5.6.4): HTAB, SP, 0x21, 0x23-0x5B, 0x5D-0x7E, obs-text.
 * The quote (0x22) ends the string and the backslash (0x5C) starts a quoted-pair.
 */
export const QDTEXT = buildTable((b) => b === 0x09 || b === 0x20 || b === 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80);

/**
 * The second byte of a quoted-pair (RFC 9110 §5.6.4): HTAB, SP, VCHAR, obs-text.
 */
export const QUOTED_PAIR = FIELD_VALUE;

/** HEX_VALUE[byte] is the value of a hex digit (RFC 5234 HEXDIG, either case), NOT_HEX otherwise. */
export const NOT_HEX = 0xff;
export const HEX_VALUE: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(NOT_HEX);
  for (let d = 0; d < 10; d++) table[0x30 + d] = d;
  for (let d = 0; d < 6; d++) {
    table[0x41 + d] = 10 + d;
    table[0x61 + d] = 10 + d;
  }
  return table;
})();

/** ASCII codes the parsers compare against, named so that the state machine reads as the grammar. */
export const CH = {
  HTAB: 0x09,
  LF: 0x0a,
  CR: 0x0d,
  SP: 0x20,
  QUOTE: 0x22,
  STAR: 0x2a,
  COMMA: 0x2c,
  DOT: 0x2e,
  SLASH: 0x2f,
  ZERO: 0x30,
  NINE: 0x39,
  COLON: 0x3a,
  SEMICOLON: 0x3b,
  EQUALS: 0x3d,
  QUESTION: 0x3f,
  BACKSLASH: 0x5c,
  LBRACKET: 0x5b,
  RBRACKET: 0x5d,
  /** OR-ing this into an ASCII letter lower-cases it; it leaves '-' and digits unchanged. */
  CASE_BIT: 0x20,
} as const;
