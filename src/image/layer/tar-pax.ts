// The one way in to tar-stream: loaded on first use (it costs a CLI start
// ~11 ms) and patched once. tar-stream decodes and encodes pax records as
// UTF-8 text. Extended attribute values (SCHILY.xattr.*, e.g.
// security.capability) are raw bytes, which UTF-8 would mangle; GNU tar,
// docker and containerd write them raw. The patch swaps in a codec that keeps
// those values as bytes (carried in latin1 strings, one char per byte).
// esbuild keeps tar-stream external, so the bundle and this patch share one
// copy of its headers module.
import { createRequire } from 'node:module';
import type TarStream from 'tar-stream';
import { dirname, join } from 'node:path';

const RAW = /^SCHILY\.xattr\./;

interface Headers {
  /** a header block decoded; null for a zero block */
  decode(buf: Buffer, filenameEncoding: string, allowUnknownFormat: boolean): TarStream.Header | null;
  decodeLongPath(buf: Buffer, encoding: string): string;
  decodePax(buf: Buffer): Record<string, string>;
  encodePax(opts: { name?: string; linkname?: string; pax?: Record<string, string> }): Buffer;
  /** a ustar header block, or null when the entry needs a pax header */
  encode(h: Record<string, unknown>): Buffer | null;
}

function record(key: string, value: string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value, RAW.test(key) ? 'latin1' : 'utf8'), Buffer.from('\n')]);
  let digits = String(body.length).length;
  if (body.length + digits >= 10 ** digits) digits++;
  return Buffer.concat([Buffer.from(String(body.length + digits)), body]);
}

let loaded: typeof TarStream | undefined;
let headers: Headers | undefined;
const req = createRequire(import.meta.url);

export function tarStream(): typeof TarStream {
  tarHeaders(); // patched before its streams use it
  return (loaded ??= req('tar-stream') as typeof TarStream);
}

/** tar-stream's header codec alone, patched (for a tar read or written without its streams: tar-read.ts, writeTarSync). */
export function tarHeaders(): Headers {
  if (headers) return headers;
  headers = req(join(dirname(req.resolve('tar-stream')), 'headers.js')) as Headers;
  headers.decodePax = (buf: Buffer) => {
    const out: Record<string, string> = {};
    while (buf.length) {
      const sp = buf.indexOf(32);
      const len = parseInt(buf.subarray(0, sp).toString(), 10);
      if (!len || sp < 0) return out;
      const rec = buf.subarray(sp + 1, len - 1);
      const eq = rec.indexOf(61);
      if (eq < 0) return out;
      const key = rec.subarray(0, eq).toString('utf8');
      out[key] = rec.subarray(eq + 1).toString(RAW.test(key) ? 'latin1' : 'utf8');
      buf = buf.subarray(len);
    }
    return out;
  };
  headers.encodePax = (opts) => {
    const parts: Buffer[] = [];
    if (opts.name) parts.push(record('path', opts.name));
    if (opts.linkname) parts.push(record('linkpath', opts.linkname));
    for (const [k, v] of Object.entries(opts.pax ?? {})) parts.push(record(k, v));
    return Buffer.concat(parts);
  };
  return headers;
}
