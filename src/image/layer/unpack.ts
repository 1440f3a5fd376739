// Unpacks one layer (a tar, plain, gzip or zstd) into its own directory in
// overlayfs's format (extract.ts writes the entries), hashing the blob and
// the uncompressed tar on the way.
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Compression } from '../oci/types.js';
import { Extractor } from './extract.js';
import { decoderFor, type Decoder } from './decode.js';

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

/** Where the blob's bytes are kept as they pass, and which counts and hashes them (with the digest's algorithm): the content store's Ingest. */
export interface BlobSink {
  /** Takes a chunk (an overlong blob throws); false when it wants no more until room. */
  put(chunk: Buffer): boolean;
  /** Calls `fn` once it takes chunks again. */
  whenRoom(fn: () => void): void;
  /** Resolves once all it took is written. */
  written(): Promise<void>;
  bytes: number;
  digest(): string;
}

/** A sink that only counts and hashes: for a blob already stored. */
class BlobHash implements BlobSink {
  private readonly hash: Hash;
  bytes = 0;
  constructor(private readonly algorithm: string) { this.hash = createHash(algorithm); }
  put(chunk: Buffer): boolean { this.hash.update(chunk); this.bytes += chunk.length; return true; }
  whenRoom(fn: () => void): void { fn(); }
  async written(): Promise<void> { /* nothing to write */ }
  digest(): string { return `${this.algorithm}:${this.hash.digest('hex')}`; }
}

/**
 * Streams `source` (the blob) into `dest` (an empty directory), hashing the
 * blob and the uncompressed tar on the way. `digestAlgorithm` is the blob
 * digest's algorithm (sha256 unless the descriptor says otherwise). Each
 * chunk is handed on by a call, not through a chain of streams: the source
 * is paused while the blob's file, the decoder or the extractor is full.
 */
export async function unpackLayer(source: Readable, dest: string, compression: Compression, digestAlgorithm = 'sha256', blobSink?: BlobSink): Promise<UnpackResult> {
  const blob = blobSink ?? new BlobHash(digestAlgorithm);
  let failure: Error | undefined;
  let ended!: () => void;
  const tarDone = new Promise<void>((res) => { ended = res; });
  /** What holds the source back. */
  const waits = { blob: false, decoder: false };
  const pump = () => { if (!failure && !waits.blob && !waits.decoder) source.resume(); };
  const fail = (e: Error) => {
    if (failure) return;
    failure = e;
    source.destroy();
    decoder.stop();
    ended();
  };
  const extractor = new Extractor(dest, { room: () => decoder.resume() });
  const decoder: Decoder = decoderFor(compression, {
    block: (b) => { try { return extractor.write(b); } catch (e) { fail(e as Error); return false; } },
    room: () => { waits.decoder = false; pump(); },
    done: () => ended(),
    failed: fail,
  });
  source.on('data', (chunk: Buffer) => {
    if (failure) return;
    try {
      if (!blob.put(chunk)) { waits.blob = true; blob.whenRoom(() => { waits.blob = false; pump(); }); }
      if (!decoder.write(chunk)) waits.decoder = true;
    } catch (e) { fail(e as Error); return; }
    if (waits.blob || waits.decoder) source.pause();
  });
  let sourceEnded = false;
  source.once('end', () => { sourceEnded = true; if (!failure) decoder.end(); });
  source.once('error', fail);
  source.once('close', () => { if (!sourceEnded) fail(new Error('Premature close')); });
  pump(); // a source paused before it came here flows too
  try {
    await tarDone;
    if (failure) throw failure;
    await Promise.all([extractor.finish(), blob.written()]);
  } catch (e) {
    fail(e as Error);
  } finally {
    await extractor.close();
  }
  if (failure) throw failure;
  return {
    digest: blob.digest(),
    diffID: `sha256:${decoder.digest!}`,
    size: blob.bytes,
    unpackedSize: decoder.bytes,
    contentSize: extractor.contentBytes(),
  };
}
