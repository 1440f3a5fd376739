// A gzip layer inflated on a thread of its own (native/fsx/gunzip.c), with
// its diffID hashed there too. Compressed chunks are handed to the thread as
// they come and kept alive here until it says it is done with them; its
// output comes back in blocks, which it stops making while the taker has
// held back more than a few.
import { fsx } from '../../util/fsx.js';
import type { Decoder, DecoderOutput } from './decode.js';

/** Compressed bytes that may wait for the thread before the writer is asked to wait. */
const QUEUE_LIMIT = 4 << 20;
const INPUT_ENDED = 0, TAKEN = 1, STOP = 2;

export class NativeGunzip implements Decoder {
  private readonly handle: object;
  /** Chunks the thread has been given and not finished. */
  private inputs: Buffer[] = [];
  private queued = 0;
  /** Blocks the output did not take yet: acknowledged on resume(). */
  private untaken = 0;
  private over = false;
  digest: string | undefined;
  bytes = 0;

  constructor(private readonly out: DecoderOutput) {
    this.handle = fsx().gunzipStart((block, done, last, text) => this.output(block, done, last, text));
  }

  write(chunk: Buffer): boolean {
    this.inputs.push(chunk);
    this.queued += chunk.length;
    fsx().gunzipWrite(this.handle, chunk);
    return this.queued < QUEUE_LIMIT;
  }

  end(): void { fsx().gunzipControl(this.handle, INPUT_ENDED, 0); }

  resume(): void {
    if (this.untaken) { fsx().gunzipControl(this.handle, TAKEN, this.untaken); this.untaken = 0; }
  }

  stop(): void {
    if (this.over) return;
    this.over = true;
    fsx().gunzipControl(this.handle, STOP, 0);
  }

  private output(block: Buffer | null, done: number, last: boolean, text: string): void {
    if (this.over) return;
    const wasFull = this.queued >= QUEUE_LIMIT;
    for (const b of this.inputs.splice(0, done)) this.queued -= b.length;
    if (last && text.startsWith('gzip: ')) { this.over = true; this.out.failed(new Error(text)); return; }
    if (block) {
      this.bytes += block.length;
      if (this.out.block(block)) fsx().gunzipControl(this.handle, TAKEN, 1);
      else this.untaken++;
    }
    if (last) {
      this.over = true;
      this.digest = text;
      this.out.done();
    } else if (wasFull && this.queued < QUEUE_LIMIT) this.out.room();
  }
}
