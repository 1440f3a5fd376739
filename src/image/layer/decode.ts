// A layer's blob made back into its tar, with the tar's sha256 (its diffID)
// taken on the way: gzip on a thread of its own (gunzip.ts), zstd (fzstd)
// and a plain tar here. Each gives its output to one taker, which may ask it
// to hold back until resume().
import { createHash, type Hash } from 'node:crypto';
import { Decompress as ZstdDecompress } from 'fzstd';
import type { Compression } from '../oci/types.js';
import { NativeGunzip } from './gunzip.js';

/** Where a decoder's output goes. */
export interface DecoderOutput {
  /** A block of the tar; false asks for no more until resume(). */
  block(b: Buffer): boolean;
  /** The decoder, full before, takes input again. */
  room(): void;
  /** All of the tar has come out. */
  done(): void;
  failed(e: Error): void;
}

export interface Decoder {
  /** A chunk of the blob; false when it wants no more until its output's room(). */
  write(chunk: Buffer): boolean;
  /** The blob has ended. */
  end(): void;
  /** The output takes blocks again. */
  resume(): void;
  stop(): void;
  /** sha256 (hex) of the tar, once done. */
  readonly digest: string | undefined;
  /** Bytes of tar made. */
  readonly bytes: number;
}

export function decoderFor(compression: Compression, out: DecoderOutput): Decoder {
  if (compression === 'gzip') return new NativeGunzip(out);
  return new InlineDecoder(out, compression === 'zstd' ? zstd : passThrough);
}

type Inflate = (emit: (b: Uint8Array) => void) => { push(chunk: Uint8Array, final: boolean): void };

const passThrough: Inflate = (emit) => ({ push: (chunk) => { if (chunk.length) emit(chunk); } });

const zstd: Inflate = (emit) => {
  const dec = new ZstdDecompress((data) => emit(data));
  return { push: (chunk, final) => dec.push(chunk, final) };
};

/** A decoder that runs on the loop as its input comes: its output is made within write(). */
class InlineDecoder implements Decoder {
  private readonly hash: Hash = createHash('sha256');
  private readonly inflate: ReturnType<Inflate>;
  /** The output asked to be held back: input waits until resume(). */
  private held = false;
  private over = false;
  digest: string | undefined;
  bytes = 0;

  constructor(private readonly out: DecoderOutput, inflate: Inflate) {
    this.inflate = inflate((data) => {
      const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      this.hash.update(b);
      this.bytes += b.length;
      if (!this.out.block(b)) this.held = true;
    });
  }

  write(chunk: Buffer): boolean {
    if (!this.push(chunk, false)) return true;
    return !this.held;
  }

  end(): void {
    if (!this.push(new Uint8Array(0), true)) return;
    this.over = true;
    this.digest = this.hash.digest('hex');
    this.out.done();
  }

  resume(): void {
    if (!this.held) return;
    this.held = false;
    if (!this.over) this.out.room();
  }

  stop(): void { this.over = true; }

  /** False when the data was damaged (the output was told). */
  private push(chunk: Uint8Array, final: boolean): boolean {
    if (this.over) return false;
    try {
      this.inflate.push(chunk, final);
      return true;
    } catch (e) {
      this.over = true;
      this.out.failed(new Error(`zstd: ${(e as Error).message}`));
      return false;
    }
  }
}
