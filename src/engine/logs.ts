// Reads the logs the shim writes, json-file (<id>-json.log) or local
// (local-logs/container.log: protobuf entries, rotated files gzipped), with
// their rotated .1 .. .N, and docker's options: tail, since, until,
// timestamps, follow.
import { existsSync, openSync, readSync, closeSync, fstatSync, statSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface LogEntry { stream: 'stdout' | 'stderr'; time: string; log: Buffer }
export interface LogQuery { stdout: boolean; stderr: boolean; since?: number; until?: number; tail?: number; follow: boolean }

export type LogFormat = 'json' | 'local';

/** The log's files, oldest first; a rotated one may be gzipped (local), or not yet. */
function files(path: string): string[] {
  const out: string[] = [];
  for (let i = 1; ; i++) {
    const f = [`${path}.${i}.gz`, `${path}.${i}`].find((x) => existsSync(x));
    if (!f) break;
    out.unshift(f);
  }
  if (existsSync(path)) out.push(path);
  return out;
}

function parseLine(line: string): LogEntry | undefined {
  try {
    const e = JSON.parse(line) as { log: string; stream: 'stdout' | 'stderr'; time: string };
    return { stream: e.stream, time: e.time, log: Buffer.from(e.log) };
  } catch { return undefined; /* a line cut by a crash */ }
}

/** RFC 3339 with nanoseconds, as docker prints log times. */
function timeOf(nanos: bigint): string {
  const iso = new Date(Number(nanos / 1000000n)).toISOString();
  return `${iso.slice(0, 19)}.${String(nanos % 1000000000n).padStart(9, '0')}Z`;
}

/** One protobuf LogEntry of the local format (source 1, time_nano 2, line 3, partial 4); a full line gets its newline back. */
function parseEntry(b: Buffer): LogEntry | undefined {
  let at = 0, stream: LogEntry['stream'] = 'stdout', nanos = 0n, line: Buffer = Buffer.alloc(0), partial = false;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      if (at >= b.length) throw new Error('cut short');
      const x = b[at++]!;
      v |= BigInt(x & 0x7f) << shift;
      if (x < 0x80) return v;
      shift += 7n;
    }
  };
  try {
    while (at < b.length) {
      const key = Number(varint()), field = key >> 3, wire = key & 7;
      if (wire === 0) {
        const v = varint();
        if (field === 2) nanos = v;
        else if (field === 4) partial = v !== 0n;
      } else if (wire === 2) {
        const len = Number(varint());
        const data = b.subarray(at, at + len);
        at += len;
        if (field === 1) stream = data.toString() === 'stderr' ? 'stderr' : 'stdout';
        else if (field === 3) line = data;
      } else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else return undefined;
    }
  } catch { return undefined; }
  return { stream, time: timeOf(nanos), log: partial ? Buffer.from(line) : Buffer.concat([line, Buffer.from('\n')]) };
}

/** Whole entries of `buf` (from a file's content): json-file lines or local frames; and how many bytes they took. */
function entriesIn(buf: Buffer, format: LogFormat): { entries: LogEntry[]; used: number } {
  const entries: LogEntry[] = [];
  if (format === 'json') {
    const end = buf.lastIndexOf(10);
    if (end < 0) return { entries, used: 0 };
    for (const l of buf.subarray(0, end).toString('utf8').split('\n')) { const e = parseLine(l); if (e) entries.push(e); }
    return { entries, used: end + 1 };
  }
  let at = 0;
  while (at + 8 <= buf.length) {
    const size = buf.readUInt32BE(at);
    if (at + 8 + size > buf.length) break; // still being written
    const e = parseEntry(buf.subarray(at + 4, at + 4 + size));
    if (e) entries.push(e);
    at += 8 + size;
  }
  return { entries, used: at };
}

const seconds = (time: string) => Date.parse(time) / 1000;

function wanted(e: LogEntry, q: LogQuery): boolean {
  if (e.stream === 'stdout' ? !q.stdout : !q.stderr) return false;
  if (q.since !== undefined || q.until !== undefined) {
    const t = seconds(e.time);
    if (q.since !== undefined && t < q.since) return false;
    if (q.until !== undefined && t > q.until) return false;
  }
  return true;
}

const CHUNK = 1 << 20;

/** Reads the whole entries in `fd` from `pos`, a chunk at a time; the position after the last whole one is `at.pos`. */
function* forwardEntries(fd: number, at: { pos: number }, format: LogFormat): Generator<LogEntry> {
  // up to the size it has now (a follower asks again); nothing is allocated when nothing is new
  const size = fstatSync(fd).size;
  let carry = Buffer.alloc(0);
  while (at.pos + carry.length < size) {
    const len = Math.min(CHUNK, size - at.pos - carry.length);
    const buf = Buffer.allocUnsafe(len);
    const n = readSync(fd, buf, 0, len, at.pos + carry.length);
    if (n === 0) return;
    const data = carry.length ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
    const r = entriesIn(data, format);
    at.pos += r.used;
    carry = Buffer.from(data.subarray(r.used));
    yield* r.entries;
  }
}

/** The json-file lines of `fd` before `end`, newest first, read backwards a chunk at a time (docker's tail). */
function* backwardLines(fd: number, end: number): Generator<LogEntry> {
  let pos = end, carry = Buffer.alloc(0);
  // small reads first (a tail of a few lines is the common ask), doubling up to CHUNK
  for (let size = 16384; pos > 0; size = Math.min(CHUNK, size * 2)) {
    const len = Math.min(size, pos);
    pos -= len;
    const buf = Buffer.allocUnsafe(len);
    readSync(fd, buf, 0, len, pos);
    const data = Buffer.concat([buf, carry]);
    let stop = data.length;
    for (let nl = data.lastIndexOf(10, stop - 1); nl >= 0; nl = data.lastIndexOf(10, stop - 1)) {
      const e = parseLine(data.subarray(nl + 1, stop).toString('utf8'));
      if (e) yield e;
      stop = nl;
    }
    carry = Buffer.from(data.subarray(0, stop));
  }
  const first = carry.length ? parseLine(carry.toString('utf8')) : undefined;
  if (first) yield first;
}

/** The position after the last whole json-file line of `fd` (a line being written is not yet an entry). */
function lastLineEnd(fd: number): number {
  let pos = fstatSync(fd).size;
  const buf = Buffer.alloc(4096);
  while (pos > 0) {
    const len = Math.min(buf.length, pos);
    readSync(fd, buf, 0, len, pos - len);
    const nl = buf.subarray(0, len).lastIndexOf(10);
    if (nl >= 0) return pos - len + nl + 1;
    pos -= len;
  }
  return 0;
}

/** All entries of a rotated file (gzipped or not), oldest first. */
function* fileEntries(f: string, format: LogFormat): Generator<LogEntry> {
  if (f.endsWith('.gz')) {
    let data: Buffer;
    try { data = gunzipSync(readFileSync(f)); } catch { return; /* rotated out meanwhile */ }
    yield* entriesIn(data, format).entries;
    return;
  }
  let fd: number;
  try { fd = openSync(f, 'r'); } catch { return; }
  try { yield* forwardEntries(fd, { pos: 0 }, format); } finally { closeSync(fd); }
}

/**
 * The last `n` wanted entries of the log, oldest first, read from its end:
 * the live json-file backwards, in chunks, so a tail of a large log costs
 * what it returns. Rotated files are read only when the live one has fewer.
 */
function tailOf(fileList: string[], live: { fd: number; end: number } | undefined, q: LogQuery, n: number, format: LogFormat): LogEntry[] {
  const newestFirst: LogEntry[] = [];
  const take = (entries: Iterable<LogEntry>, reversed: boolean) => {
    if (reversed) {
      for (const e of entries) { if (newestFirst.length >= n) return; if (wanted(e, q)) newestFirst.push(e); }
      return;
    }
    const room = n - newestFirst.length, ring: LogEntry[] = []; // the last `room` wanted, in constant memory
    for (const e of entries) if (wanted(e, q)) { ring.push(e); if (ring.length >= 2 * room + 1024) ring.splice(0, ring.length - room); }
    newestFirst.push(...ring.slice(-room).reverse());
  };
  if (n <= 0) return [];
  if (live) take(format === 'json' ? backwardLines(live.fd, live.end) : forwardEntries(live.fd, { pos: 0 }, format), format === 'json');
  for (const f of [...fileList].reverse()) {
    if (newestFirst.length >= n) break;
    take(fileEntries(f, format), false);
  }
  return newestFirst.reverse();
}

/**
 * Yields the entries the query asks for, reading the log as it goes (never
 * all of it at once); with `follow`, goes on until `running()` is false and
 * the log is read to its end.
 */
export async function* readLogs(path: string, q: LogQuery, running: () => boolean, closed: () => boolean, format: LogFormat = 'json'): AsyncGenerator<LogEntry> {
  const all = files(path);
  const rotated = all.filter((f) => f !== path);
  let fd = -1;
  const at = { pos: 0 };
  try { if (all.includes(path)) fd = openSync(path, 'r'); } catch { fd = -1; }
  try {
    if (q.tail !== undefined && q.tail >= 0) {
      const end = fd >= 0 ? (format === 'json' ? lastLineEnd(fd) : 0) : 0;
      const last = tailOf(rotated, fd >= 0 ? { fd, end } : undefined, q, q.tail, format);
      if (fd >= 0) {
        at.pos = end;
        if (format !== 'json') for (const _ of forwardEntries(fd, at, format)) { /* to the end of the whole entries */ }
      }
      for (const e of last) yield e;
    } else {
      for (const f of rotated) for (const e of fileEntries(f, format)) { if (closed()) return; if (wanted(e, q)) yield e; }
      if (fd >= 0) for (const e of forwardEntries(fd, at, format)) { if (closed()) return; if (wanted(e, q)) yield e; }
    }
    if (!q.follow) return;
    for (;;) {
      if (closed()) return;
      const live = running();
      if (fd < 0 && existsSync(path)) { fd = openSync(path, 'r'); at.pos = 0; }
      if (fd >= 0) {
        // rotated: the file we hold was renamed; finish it, then open the new one
        let moved = false;
        try { moved = statSync(path).ino !== fstatSync(fd).ino; } catch { moved = true; }
        for (const e of forwardEntries(fd, at, format)) if (wanted(e, q)) yield e;
        if (moved) { closeSync(fd); fd = -1; continue; }
      }
      if (!live) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** docker's stdcopy frame: stream byte, three zeros, big-endian length. */
export function frame(stream: 'stdout' | 'stderr', data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream === 'stdout' ? 1 : 2;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}
