/**
 * The bytes a push parser has been fed and not yet consumed, as one contiguous range
 * `buf[pos, end)`, so that a parser can keep offsets instead of copying.
 *
 * - A chunk that arrives when nothing is pending is used as it is: no copy. This is the common
 *   case (a whole request in one TCP read), and then a body inside it is handed out as a
 *   subarray.
 * - Bytes are copied only to join the unfinished part of a message with the next chunk. The
 *   join buffer grows by doubling and is append-only: bytes already written are never moved or
 *   overwritten, because a request handed out earlier may still hold a subarray of them (its
 *   body, or the head it decodes lazily). A head that arrives one byte at a time therefore costs
 *   O(n) copying in total, not O(n²).
 *
 * Chunks are kept by reference: whoever feeds must not reuse a chunk's memory afterwards (as
 * `net.Socket`'s `onread` option with a fixed buffer would) unless the parser says it copies
 * (the response parser does, see `retainPending`). The 'data' event never reuses memory.
 */

/**
 * The smallest join buffer; growth doubles, so a head split many times still costs O(n). Join
 * buffers this small come from Buffer.allocUnsafe, which carves anything under 4 KiB out of
 * Node's shared 8 KiB pool instead of creating an ArrayBuffer each time: with a new 4 KiB
 * ArrayBuffer per join, a small GET split in two cost ~7x a whole one in bench/parser.ts; with
 * the pool, ~2-3x. Our slice of the pool is ours alone: nothing else is ever written into it.
 */
const MIN_JOIN_BYTES = 128;

function allocateJoinBuffer(bytes: number): Buffer {
  return Buffer.allocUnsafe(Math.max(MIN_JOIN_BYTES, 2 * bytes));
}

/**
 * Copy src[from, to) into dst at `at`. A head fragment is usually a few dozen bytes, where a
 * plain loop beats Buffer#copy's argument checks; larger runs go to TypedArray#set (memmove).
 */
function copyBytes(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): void {
  if (to - from <= 64) {
    for (let i = from; i < to; i++) dst[at++] = src[i] as number;
  } else {
    dst.set(src.subarray(from, to), at);
  }
}

export class InputBuffer {
  protected buf: Buffer = Buffer.alloc(0);
  protected pos = 0;
  protected end = 0;
  /** `buf` is our own join buffer: bytes may be appended after `end`. */
  private owned = false;
  /** After a terminal error nothing more is kept: feed() drops what it is given. */
  private stopped = false;

  /** Bytes fed but not yet consumed. */
  get bufferedBytes(): number {
    return this.end - this.pos;
  }

  /** Add a chunk. Kept by reference; copied only to join an unfinished part. */
  feed(chunk: Buffer): void {
    const length = chunk.length;
    if (length === 0 || this.stopped) return;
    if (this.pos === this.end) {
      this.buf = chunk;
      this.pos = 0;
      this.end = length;
      this.owned = false;
      return;
    }
    if (this.owned && this.end + length <= this.buf.length) {
      copyBytes(chunk, 0, length, this.buf, this.end);
      this.end += length;
      return;
    }
    const pending = this.end - this.pos;
    const joined = allocateJoinBuffer(pending + length);
    copyBytes(this.buf, this.pos, this.end, joined, 0);
    copyBytes(chunk, 0, length, joined, pending);
    this.buf = joined;
    this.pos = 0;
    this.end = pending + length;
    this.owned = true;
  }

  /**
   * Copy the pending bytes into a buffer of our own if they still live in a fed chunk, so that
   * the caller may reuse that chunk's memory (the response parser does this for the load
   * generator, which reads every socket into one shared buffer).
   */
  protected retainPending(): void {
    if (this.owned || this.pos === this.end) return;
    const pending = this.end - this.pos;
    const copy = allocateJoinBuffer(pending);
    copyBytes(this.buf, this.pos, this.end, copy, 0);
    this.buf = copy;
    this.pos = 0;
    this.end = pending;
    this.owned = true;
  }

  /** Drop everything buffered, now and from now on (after a terminal error). */
  protected discardInput(): void {
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    this.end = 0;
    this.owned = false;
    this.stopped = true;
  }
}
