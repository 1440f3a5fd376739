// Unpacks one layer (a tar, plain, gzip or zstd) into its own directory in
// overlayfs's format (extract.ts writes the entries), hashing the blob and
// the uncompressed tar on the way.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Decompress as ZstdDecompress } from 'fzstd';
import type { Compression } from '../oci/types.js';
import { Extractor } from './extract.js';
import { NativeGunzip } from './gunzip.js';

export { LayerError } from './extract.js';

export interface UnpackResult {
  /** Digest of the bytes as they came (the blob), with the algorithm asked for. */
  digest: string;
  /** sha256 of the uncompressed tar: the layer's diffID. */
  diffID: string;
  /** Bytes as they came, and uncompressed. */
  size: number;
  unpackedSize: number;
  /** The layer's size as docker reports it: the bytes of its files and symlinks, each inode once. */
  contentSize: number;
}

/** Counts and hashes what flows through. */
class Tap extends Transform {
  bytes = 0;
  constructor(readonly hash: Hash) { super(); }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

function zstdStream(): Transform {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try { dec.push(chunk); cb(); } catch (e) { cb(new Error(`zstd: ${(e as Error).message}`)); }
    },
    flush(cb) {
      try { dec.push(new Uint8Array(0), true); cb(); } catch (e) { cb(new Error(`zstd: ${(e as Error).message}`)); }
    },
  });
  const dec = new ZstdDecompress((data) => { t.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength)); });
  return t;
}

/** Where the blob's bytes are kept as they pass, and which counts and hashes them (with the digest's algorithm). */
export type BlobSink = Writable & { bytes: number; digest(): string };

/**
 * Streams `source` (the blob) into `dest` (an empty directory), hashing the
 * blob and the uncompressed tar on the way. `digestAlgorithm` is the blob
 * digest's algorithm (sha256 unless the descriptor says otherwise).
 */
export async function unpackLayer(source: Readable, dest: string, compression: Compression, digestAlgorithm = 'sha256', blobSink?: BlobSink): Promise<UnpackResult> {
  // the blob is counted and hashed once: by its sink when it has one (the content store's ingest)
  const blobTap = blobSink ? undefined : new Tap(createHash(digestAlgorithm));
  const stages: (Readable | Transform | Writable)[] = [source, blobSink ? teeTo(blobSink) : blobTap!];
  // gzip: inflated and hashed on a thread of its own; zstd (fzstd) and plain tars: hashed here
  const gunzip = compression === 'gzip' ? new NativeGunzip() : undefined;
  const tarTap = gunzip ? undefined : new Tap(createHash('sha256'));
  if (compression === 'zstd') stages.push(zstdStream());
  const extractor = new Extractor(dest);
  stages.push(gunzip ?? tarTap!, extractor);
  await pipeline(stages as unknown as [Readable, ...Transform[], Writable]);
  return {
    digest: blobSink ? blobSink.digest() : `${digestAlgorithm}:${blobTap!.hash.digest('hex')}`,
    diffID: `sha256:${gunzip ? gunzip.digest : tarTap!.hash.digest('hex')}`,
    size: blobSink ? blobSink.bytes : blobTap!.bytes,
    unpackedSize: gunzip ? gunzip.bytes : tarTap!.bytes,
    contentSize: extractor.contentBytes(),
  };
}

/**
 * Passes data on and also writes it to `sink` (the content store's file),
 * ending it at the end. The sink's failure (a blob longer than its
 * descriptor says) fails the pull, not the process.
 */
function teeTo(sink: Writable): Transform {
  const tee: Transform = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (sink.write(chunk)) cb(null, chunk);
      else sink.once('drain', () => cb(null, chunk));
    },
    flush(cb) {
      sink.end(() => cb());
    },
  });
  sink.once('error', (e) => tee.destroy(e));
  return tee;
}
