// A gzip layer inflated on the thread pool (native/fsx/gunzip.c), with its
// diffID hashed there too. Compressed chunks queue here; one push at a time
// takes all that has queued, and the next starts before its output is handed
// on, so inflating runs beside the tar parsing that consumes it.
import { Transform } from 'node:stream';
import { fsx } from '../../util/fsx.js';

/** Compressed bytes that may wait before the writer is held back. */
const QUEUE_LIMIT = 4 << 20;
/** At most this much compressed input per push (the output follows sooner). */
const PUSH_LIMIT = 1 << 20;

export class NativeGunzip extends Transform {
  private readonly handle = fsx().gunzip();
  private queue: Buffer[] = [];
  private queued = 0;
  private running = false;
  /** The reader asked for no more: wait for _read. */
  private full = false;
  private held: (() => void) | undefined;
  private ending: ((e?: Error | null) => void) | undefined;
  /** sha256 of the output (hex), once it has all come out. */
  digest: string | undefined;
  /** Bytes that came out. */
  bytes = 0;

  constructor() {
    // an output or two wait for the parser while the next inflates
    super({ readableHighWaterMark: 8 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued < QUEUE_LIMIT) cb(); else this.held = cb;
    this.next();
  }

  override _flush(cb: (e?: Error | null) => void): void {
    this.ending = cb;
    this.next();
  }

  override _read(n: number): void {
    super._read(n);
    this.full = false;
    this.next();
  }

  private next(): void {
    if (this.running || this.full || this.destroyed) return;
    if (!this.queue.length) {
      if (!this.ending) return;
      const cb = this.ending;
      this.ending = undefined;
      try { this.digest = fsx().gunzipEnd(this.handle); cb(); } catch (e) { cb(e as Error); }
      return;
    }
    let take = 0, bytes = 0;
    while (take < this.queue.length && (take === 0 || bytes + this.queue[take]!.length <= PUSH_LIMIT)) bytes += this.queue[take++]!.length;
    const inputs = this.queue.splice(0, take);
    this.queued -= bytes;
    this.running = true;
    fsx().gunzipPush(this.handle, inputs).then((out) => {
      if (out.consumed < bytes) this.requeue(inputs, out.consumed);
      this.running = false;
      if (this.held && this.queued < QUEUE_LIMIT) { const cb = this.held; this.held = undefined; cb(); }
      // the next push starts before this output is parsed; the last output goes before the end
      const more = this.queue.length > 0;
      if (more) this.next();
      for (const b of out) { this.bytes += b.length; if (!this.push(b)) this.full = true; }
      if (!more) this.next();
    }, (e: Error) => { this.running = false; this.destroy(e); });
  }

  /** What a push left of `inputs` (past `consumed` bytes) goes back to the queue's front. */
  private requeue(inputs: Buffer[], consumed: number): void {
    const rest: Buffer[] = [];
    for (const b of inputs) {
      if (consumed >= b.length) { consumed -= b.length; continue; }
      rest.push(consumed ? b.subarray(consumed) : b);
      consumed = 0;
    }
    for (const b of rest) this.queued += b.length;
    this.queue.unshift(...rest);
  }
}
