/**
 * A message body collected from pieces, with memory bounded by what was received.
 *
 * Keeping one Buffer view per piece (what the parsers did) costs a JS object of ~100 bytes
 * per piece whatever its length: a chunked body of 1-byte chunks up to a 1 MiB limit held a
 * million views, and 20 such connections grew the server's RSS by 1.6-1.8 GiB (issue 14).
 * Here:
 * - the first piece is kept as a view (no copy): a body that arrives in one read, the
 *   common case, is handed out as a subarray of that read;
 * - from the second piece on, bytes are copied into one buffer that grows by doubling, so
 *   it never holds more than twice the bytes received (plus MIN_CAPACITY), and the number
 *   of Buffers held is two at most, however the body was cut.
 *
 * Pure: no I/O. The caller may drop its input after `append` returns, but must not overwrite
 * the first piece's bytes until `take` unless built with `ownBytes`.
 */

/** The smallest joined buffer: below 4 KiB Buffer.allocUnsafe carves it from Node's shared pool. */
const MIN_CAPACITY = 256;

export class BodyBuffer {
  /** The first piece, as a view of the caller's input, until a second piece arrives. */
  private first: Buffer | null = null;
  /** The joined bytes once there has been more than one piece; [0, length) is filled. */
  private joined: Buffer | null = null;
  /** Bytes collected. */
  length = 0;
  /** The most the body may grow to: capacity is never allocated past it. */
  private cap = Infinity;
  /** Copy even the first piece: the caller reuses its input buffer (the load generator does). */
  private readonly ownBytes: boolean;

  constructor(options: { ownBytes?: boolean } = {}) {
    this.ownBytes = options.ownBytes === true;
  }

  /** Start a new body of at most `maxBytes` (capacity never grows beyond it). */
  reset(maxBytes: number): void {
    this.first = null;
    this.joined = null;
    this.length = 0;
    this.cap = maxBytes;
  }

  /** Bytes of memory this body holds on to (views count the piece they show). */
  get retainedBytes(): number {
    return this.joined !== null ? this.joined.length : this.first !== null ? this.first.length : 0;
  }

  /** Add buf[start, end). */
  append(buf: Buffer, start: number, end: number): void {
    const count = end - start;
    if (count <= 0) return;
    if (this.length === 0 && !this.ownBytes) {
      this.first = buf.subarray(start, end);
      this.length = count;
      return;
    }
    const needed = this.length + count;
    let joined = this.joined;
    if (joined === null || needed > joined.length) {
      // Double, but never past the body's limit: a client that declares 1 MiB and sends one
      // byte at a time makes us hold at most twice what it sent.
      const capacity = Math.min(Math.max(MIN_CAPACITY, needed * 2), Math.max(needed, this.cap));
      const grown = Buffer.allocUnsafe(capacity);
      if (joined !== null) joined.copy(grown, 0, 0, this.length);
      else if (this.first !== null) this.first.copy(grown, 0);
      this.first = null;
      joined = grown;
      this.joined = grown;
    }
    buf.copy(joined, this.length, start, end);
    this.length = needed;
  }

  /** The body collected (null when empty), and forget it. */
  take(): Buffer | null {
    const body = this.joined !== null ? this.joined.subarray(0, this.length) : this.first;
    this.first = null;
    this.joined = null;
    this.length = 0;
    return body;
  }
}
