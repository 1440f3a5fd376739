// A gzip layer inflated on a thread of its own (native/fsx/gunzip.c), with
// its diffID hashed there too. Compressed chunks are handed to the thread as
// they come and kept alive here until it says it is done with them; its
// output comes back in blocks, which it stops making while the reader is
// more than a few behind.
import { Transform } from 'node:stream';
import { fsx } from '../../util/fsx.js';

/** Compressed bytes that may wait for the thread before the writer is held back. */
const QUEUE_LIMIT = 4 << 20;
const INPUT_ENDED = 0, TAKEN = 1, STOP = 2;

export class NativeGunzip extends Transform {
  private readonly handle: object;
  /** Chunks the thread has been given and not finished. */
  private inputs: Buffer[] = [];
  private queued = 0;
  private held: (() => void) | undefined;
  private ending: ((e?: Error | null) => void) | undefined;
  /** Blocks pushed while the reader wanted no more: taken when it reads again. */
  private untaken = 0;
  /** sha256 of the output (hex), once it has all come out. */
  digest: string | undefined;
  /** Bytes that came out. */
  bytes = 0;

  constructor() {
    // a few blocks wait for the parser while the next inflate
    super({ readableHighWaterMark: 4 << 20 });
    this.handle = fsx().gunzipStart((block, done, last, text) => this.output(block, done, last, text));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.inputs.push(chunk);
    this.queued += chunk.length;
    fsx().gunzipWrite(this.handle, chunk);
    if (this.queued < QUEUE_LIMIT) cb(); else this.held = cb;
  }

  override _flush(cb: (e?: Error | null) => void): void {
    this.ending = cb;
    fsx().gunzipControl(this.handle, INPUT_ENDED, 0);
  }

  override _read(n: number): void {
    super._read(n);
    if (this.untaken) { fsx().gunzipControl(this.handle, TAKEN, this.untaken); this.untaken = 0; }
  }

  override _destroy(e: Error | null, cb: (e?: Error | null) => void): void {
    fsx().gunzipControl(this.handle, STOP, 0);
    cb(e);
  }

  private output(block: Buffer | null, done: number, last: boolean, text: string): void {
    if (this.destroyed) return;
    for (const b of this.inputs.splice(0, done)) this.queued -= b.length;
    if (this.held && this.queued < QUEUE_LIMIT) { const cb = this.held; this.held = undefined; cb(); }
    if (last && text.startsWith('gzip: ')) { this.destroy(new Error(text)); return; }
    if (block) {
      this.bytes += block.length;
      if (this.push(block)) fsx().gunzipControl(this.handle, TAKEN, 1);
      else this.untaken++;
    }
    if (last) {
      this.digest = text;
      const cb = this.ending;
      this.ending = undefined;
      cb?.();
    }
  }
}
