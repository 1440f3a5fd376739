// A tar read in step with the bytes as they come, with no stream per entry:
// each header goes to the visitor as soon as its block is in, and a file's
// content as slices of the chunks that hold it. tar-stream's header codec
// (tar-pax.ts) decodes the blocks, and long names and pax records are applied
// as its extract applies them; what its streams cost per entry (an object
// stream, events, ticks) is what a layer of thousands of small files paid.
import type tar from 'tar-stream';
import { tarHeaders } from './tar-pax.js';

/** Larger pax or GNU long-name records are refused, as tar-stream refuses them. */
const MAX_LONG_HEADER = 4 << 20;
const BLOCK = 512;

export interface TarVisitor {
  /** An entry, with long names and pax records applied. For a file, true asks for its content, which follows through data(). */
  entry(h: tar.Header): boolean;
  data(chunk: Buffer): void;
}

type LongType = 'gnu-long-path' | 'gnu-long-link-path' | 'pax-global-header' | 'pax-header';
const LONG_TYPES = new Set<string>(['gnu-long-path', 'gnu-long-link-path', 'pax-global-header', 'pax-header']);

export class TarReader {
  private readonly codec = tarHeaders();
  /** Bytes of a block (or a long record) that began in an earlier chunk. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Content still to come for the current file, and bytes to skip after it (padding, or what no visitor takes). */
  private content = 0;
  private skip = 0;
  /** A long record whose body is awaited. */
  private long: { type: LongType; size: number } | undefined;
  private pax: Record<string, string> | undefined;
  private paxGlobal: Record<string, string> | undefined;
  private longPath: string | undefined;
  private longLinkPath: string | undefined;

  constructor(private readonly visitor: TarVisitor) {}

  /** Reads all of `chunk`; a damaged tar, or the visitor's error, is thrown. */
  write(chunk: Buffer): void {
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.content > 0) {
        const n = Math.min(this.content, end - at);
        this.visitor.data(chunk.subarray(at, at + n));
        this.content -= n;
        at += n;
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const need = this.long ? this.long.size : BLOCK;
      let block: Buffer;
      if (!this.heldBytes && end - at >= need) {
        block = chunk.subarray(at, at + need);
        at += need;
      } else {
        const n = Math.min(need - this.heldBytes, end - at);
        this.held.push(chunk.subarray(at, at + n));
        this.heldBytes += n;
        at += n;
        if (this.heldBytes < need) break;
        block = Buffer.concat(this.held, need);
        this.held = [];
        this.heldBytes = 0;
      }
      if (this.long) this.longRecord(this.long.type, block);
      else this.header(block);
    }
  }

  /** The tar has ended: throws if it ended inside an entry. */
  end(): void {
    if (this.content || this.skip || this.heldBytes || this.long) throw new Error('Unexpected end of data');
  }

  private header(block: Buffer): void {
    const h = this.codec.decode(block, 'utf-8', false);
    if (!h) return; // a zero block: the end marker (what follows is read on, as tar-stream does)
    if (!(h.size >= 0)) throw new Error('Invalid header');
    if (LONG_TYPES.has(h.type)) {
      if (h.size > MAX_LONG_HEADER) throw new Error('Header exceeds max size');
      this.long = { type: h.type as LongType, size: h.size };
      if (h.size === 0) this.longRecord(this.long.type, Buffer.alloc(0));
      return;
    }
    if (this.longPath !== undefined) { h.name = this.longPath; this.longPath = undefined; }
    if (this.longLinkPath !== undefined) { h.linkname = this.longLinkPath; this.longLinkPath = undefined; }
    if (this.pax) {
      if (this.pax.path) h.name = this.pax.path;
      if (this.pax.linkpath) h.linkname = this.pax.linkpath;
      if (this.pax.size) h.size = parseInt(this.pax.size, 10);
      h.pax = this.pax;
      this.pax = undefined;
      if (!(h.size >= 0)) throw new Error('Invalid header');
    }
    // only a file's bytes are content, and only if the visitor wants them; the rest are passed over
    const wanted = this.visitor.entry(h) && (h.type === 'file' || h.type === 'contiguous-file');
    this.content = wanted ? h.size : 0;
    this.skip = (wanted ? 0 : h.size) + padding(h.size);
  }

  private longRecord(type: LongType, body: Buffer): void {
    this.long = undefined;
    this.skip = padding(body.length);
    switch (type) {
      case 'gnu-long-path': this.longPath = this.codec.decodeLongPath(body, 'utf-8'); break;
      case 'gnu-long-link-path': this.longLinkPath = this.codec.decodeLongPath(body, 'utf-8'); break;
      case 'pax-global-header': this.paxGlobal = checkedPax(this.codec.decodePax(body)); break;
      case 'pax-header': this.pax = { ...this.paxGlobal, ...checkedPax(this.codec.decodePax(body)) }; break;
    }
  }
}

/** Zero bytes after `size` to the next block. */
const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

function checkedPax(pax: Record<string, string>): Record<string, string> {
  if (pax.path?.includes('\0') || pax.linkpath?.includes('\0')) throw new Error('Invalid tar header: pax path contains a null byte.');
  return pax;
}
