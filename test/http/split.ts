/**
 * TCP gives no message boundaries: every parser case is also run with its bytes split at every
 * offset, and fed one byte at a time. These helpers produce those feedings.
 */

/** The ways to cut `bytes` into chunks: whole, in two at every offset, and one byte at a time. */
export function* feedings(bytes: Buffer): Generator<{ label: string; chunks: Buffer[] }> {
  yield { label: 'whole', chunks: [bytes] };
  for (let at = 1; at < bytes.length; at++) {
    yield { label: `split at ${at}`, chunks: [bytes.subarray(0, at), bytes.subarray(at)] };
  }
  if (bytes.length > 2) {
    const single: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
    yield { label: 'byte by byte', chunks: single };
  }
}

/**
 * Copy each chunk into its own fresh Buffer, as a socket's 'data' event would hand them over,
 * so that no test accidentally relies on the chunks sharing one backing store.
 */
export function freshCopies(chunks: Buffer[]): Buffer[] {
  return chunks.map((chunk) => Buffer.from(chunk));
}

/** Bytes from text written with \r\n spelled out, in latin1 (one byte per char). */
export function bytesOf(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** A deterministic PRNG (mulberry32): the same seed gives the same run, so a failure can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
