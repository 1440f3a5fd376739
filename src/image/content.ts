// Content-addressed blobs: <root>/blobs/<algorithm>/<encoded>. A blob becomes
// visible only after its bytes were checked against its digest (and size);
// it is written under ingest/ first, fsynced and renamed into place. Reads
// check the digest again, so a blob damaged on disk is never served.
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync,
  renameSync, rmSync, statSync, unlinkSync, writev, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Field, InvalidInput } from '../util/check.js';
import { checkDigest } from './oci/validate.js';

export const ALGORITHMS = ['sha256', 'sha512'] as const;

export class DigestMismatch extends InvalidInput {}

export function parseDigest(d: string, what = 'digest'): { algorithm: string; encoded: string } {
  checkDigest(new Field(what, d));
  const algorithm = d.slice(0, d.indexOf(':')), encoded = d.slice(d.indexOf(':') + 1);
  if (!(ALGORITHMS as readonly string[]).includes(algorithm)) throw new InvalidInput(what, `unsupported digest algorithm "${algorithm}" (berth stores ${ALGORITHMS.join(', ')})`);
  return { algorithm, encoded };
}

export function digestOf(data: Buffer | string, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export interface Expect { digest?: string; size?: number }

/** Refuses content whose size or digest is not what was expected. */
export function verify(expect: Expect, digest: string, bytes: number): void {
  if (expect.size !== undefined && bytes !== expect.size) {
    throw new DigestMismatch(expect.digest ?? 'blob', `size is ${bytes} bytes, expected ${expect.size}${bytes < expect.size ? ' (truncated)' : ''}`);
  }
  if (expect.digest && digest !== expect.digest) throw new DigestMismatch(expect.digest, `content has digest ${digest}`);
}

/** Bytes queued for the file past which a writer is asked to wait. */
const QUEUE_LIMIT = 4 << 20;

/**
 * A blob being written: put chunks (or write it as a stream), then commit
 * (checks it and makes it visible) or abort.
 */
export class Ingest extends Writable {
  private readonly fd: number;
  private readonly hash: Hash;
  private readonly algorithm: string;
  bytes = 0;
  private digested: string | undefined;
  /** Chunks waiting for the write that is out, and their bytes. */
  private queue: Buffer[] = [];
  private queued = 0;
  private writing = false;
  private failure: Error | undefined;
  private roomWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  /** Whether abort() came (the write out then closes the fd). */
  private aborted = false;
  private fdClosed = false;

  private closeFd(): void {
    if (!this.fdClosed) { this.fdClosed = true; closeSync(this.fd); }
  }

  constructor(private readonly store: ContentStore, readonly tmp: string, private readonly expect: Expect) {
    super({ highWaterMark: QUEUE_LIMIT });
    this.algorithm = expect.digest ? parseDigest(expect.digest).algorithm : 'sha256';
    this.hash = createHash(this.algorithm);
    this.fd = openSync(tmp, 'wx', 0o644);
  }

  /**
   * Digests `chunk` now and queues it for the file, written on the thread
   * pool (a pull's loop has the tar to parse): what comes while a write is
   * out goes in the next one, as one writev. False when the queue is full:
   * whenRoom() says when to go on. An overlong blob, or a failed write, throws.
   */
  put(chunk: Buffer): boolean {
    if (this.failure) throw this.failure;
    this.count(chunk);
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.writing) this.writeQueued();
    return this.queued < QUEUE_LIMIT;
  }

  whenRoom(fn: () => void): void {
    if (this.queued < QUEUE_LIMIT || this.failure) fn(); else this.roomWaiters.push(fn);
  }

  /** Resolves once all that was put is written; rejects with a write's error. */
  written(): Promise<void> {
    return new Promise((res, rej) => {
      const done = () => (this.failure ? rej(this.failure) : res());
      if (this.writing) this.idleWaiters.push(done); else done();
    });
  }

  private writeQueued(): void {
    const bufs = this.queue;
    const size = this.queued;
    this.queue = [];
    this.writing = true;
    const rest = (left: Buffer[]): void => {
      writev(this.fd, left, (e, n) => {
        if (!e && !this.aborted) {
          while (left.length && n >= left[0]!.length) n -= left.shift()!.length;
          if (left.length) { left[0] = left[0]!.subarray(n); rest(left); return; }
        }
        if (e) this.failure ??= e;
        this.writing = false;
        this.queued -= size;
        if (this.aborted) { this.closeFd(); this.failure ??= new Error('aborted'); }
        else if (this.queue.length && !this.failure) this.writeQueued();
        if (this.queued < QUEUE_LIMIT || this.failure) for (const fn of this.roomWaiters.splice(0)) fn();
        if (!this.writing) for (const fn of this.idleWaiters.splice(0)) fn();
      });
    };
    rest(bufs);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    let room: boolean;
    try { room = this.put(chunk); } catch (e) { cb(e as Error); return; }
    if (room) cb(); else this.whenRoom(() => cb(this.failure));
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.written().then(() => cb(), cb);
  }

  /** Writes and digests `chunk` now (a writer that is not a stream: writeTarSync's sink). */
  append(chunk: Buffer): void {
    this.count(chunk);
    for (let off = 0; off < chunk.length;) off += writeSync(this.fd, chunk, off);
  }

  private count(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.expect.size !== undefined && this.bytes > this.expect.size) throw new DigestMismatch(this.expect.digest ?? 'blob', `more than the ${this.expect.size} bytes its descriptor says`);
  }

  /** The digest of what was written; once the data has ended. */
  digest(): string {
    this.digested ??= `${this.algorithm}:${this.hash.digest('hex')}`;
    return this.digested;
  }

  /**
   * After the data has ended: verify, fsync (unless `synced`: a syncfs
   * after the last write took it to disk already), rename into place.
   */
  commit(synced = false): string {
    const digest = this.digest();
    try {
      verify(this.expect, digest, this.bytes);
    } catch (e) {
      this.abort();
      throw e;
    }
    try { if (!synced) fsyncSync(this.fd); } finally { this.closeFd(); }
    this.store.place(this.tmp, digest);
    return digest;
  }

  abort(): void {
    // a write still on the pool keeps the fd (its number must not go to another file first)
    if (!this.writing) this.closeFd();
    this.aborted = true;
    rmSync(this.tmp, { force: true });
  }
}

export class ContentStore {
  private n = 0;
  constructor(readonly root: string) {
    mkdirSync(join(root, 'blobs'), { recursive: true });
    mkdirSync(join(root, 'ingest'), { recursive: true });
  }

  path(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, encoded);
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  size(digest: string): number {
    return statSync(this.path(digest)).size;
  }

  /** A new name under ingest/; the pid in it lets cleanIngest() tell a dead writer's files. */
  private tmpPath(): string {
    return join(this.root, 'ingest', `${process.pid}-${Date.now()}-${++this.n}`);
  }

  /** Starts writing a blob; nothing is visible until commit(). */
  ingest(expect: Expect = {}): Ingest {
    return new Ingest(this, this.tmpPath(), expect);
  }

  /** Writes a whole stream; returns its digest. */
  async write(src: Readable, expect: Expect = {}): Promise<string> {
    const ing = this.ingest(expect);
    try {
      await pipeline(src, ing);
    } catch (e) {
      ing.abort();
      throw e;
    }
    return ing.commit();
  }

  writeBuffer(data: Buffer | string, expect: Expect = {}): string {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const alg = expect.digest ? parseDigest(expect.digest).algorithm : 'sha256';
    const digest = digestOf(buf, alg);
    verify(expect, digest, buf.length);
    if (this.has(digest)) return digest;
    const tmp = this.tmpPath();
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.place(tmp, digest);
    return digest;
  }

  /** @internal renames a verified temporary file into place. */
  place(tmp: string, digest: string): void {
    const dest = this.path(digest);
    mkdirSync(join(dest, '..'), { recursive: true });
    renameSync(tmp, dest);
    const dfd = openSync(join(dest, '..'), 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  }

  /** The whole blob, checked against its digest. */
  read(digest: string): Buffer {
    let data: Buffer;
    try { data = readFileSync(this.path(digest)); } catch { throw new InvalidInput(digest, 'blob not found'); }
    const { algorithm } = parseDigest(digest);
    if (digestOf(data, algorithm) !== digest) throw new DigestMismatch(digest, 'the stored blob is damaged (its content no longer matches its digest)');
    return data;
  }

  /** A stream of the blob that fails at its end if the content does not match. */
  stream(digest: string): Readable {
    const p = this.path(digest);
    if (!existsSync(p)) throw new InvalidInput(digest, 'blob not found');
    const hash = createHash(parseDigest(digest).algorithm);
    const check = new Transform({
      transform(chunk: Buffer, _e, cb) { hash.update(chunk); cb(null, chunk); },
      flush(cb) {
        const got = `${parseDigest(digest).algorithm}:${hash.digest('hex')}`;
        cb(got === digest ? null : new DigestMismatch(digest, 'the stored blob is damaged (its content no longer matches its digest)'));
      },
    });
    return createReadStream(p).pipe(check);
  }

  delete(digest: string): void {
    try { unlinkSync(this.path(digest)); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
  }

  list(): string[] {
    const out: string[] = [];
    for (const alg of ALGORITHMS) {
      const d = join(this.root, 'blobs', alg);
      if (existsSync(d)) for (const e of readdirSync(d)) out.push(`${alg}:${e}`);
    }
    return out;
  }

  /** Removes ingest files left by processes that died (kill -9 during a pull). */
  cleanIngest(): void {
    for (const e of readdirSync(join(this.root, 'ingest'))) {
      const pid = Number(e.split('-')[0]);
      if (pid === process.pid) continue;
      let alive = false;
      try { process.kill(pid, 0); alive = true; } catch { /* gone */ }
      if (!alive) rmSync(join(this.root, 'ingest', e), { force: true, recursive: true });
    }
  }
}
