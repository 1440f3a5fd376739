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

/** Reads the whole entries in `fd` from `pos`; returns them and the new position. */
function readEntries(fd: number, pos: number, format: LogFormat): { entries: LogEntry[]; pos: number } {
  const size = fstatSync(fd).size;
  if (size <= pos) return { entries: [], pos };
  const buf = Buffer.alloc(size - pos);
  const n = readSync(fd, buf, 0, buf.length, pos);
  const r = entriesIn(buf.subarray(0, n), format);
  return { entries: r.entries, pos: pos + r.used };
}

/**
 * Yields the entries the query asks for; with `follow`, goes on until
 * `running()` is false and the log is read to its end.
 */
export async function* readLogs(path: string, q: LogQuery, running: () => boolean, closed: () => boolean, format: LogFormat = 'json'): AsyncGenerator<LogEntry> {
  const existing: LogEntry[] = [];
  let fd = -1, pos = 0;
  for (const f of files(path)) {
    if (f.endsWith('.gz')) {
      let data: Buffer;
      try { data = gunzipSync(readFileSync(f)); } catch { continue; /* rotated out meanwhile */ }
      for (const e of entriesIn(data, format).entries) if (wanted(e, q)) existing.push(e);
      continue;
    }
    const h = openSync(f, 'r');
    const r = readEntries(h, 0, format);
    for (const e of r.entries) if (wanted(e, q)) existing.push(e);
    if (f === path) { fd = h; pos = r.pos; } else closeSync(h);
  }
  try {
    const start = q.tail !== undefined && q.tail >= 0 ? Math.max(0, existing.length - q.tail) : 0;
    for (let i = start; i < existing.length; i++) yield existing[i]!;
    if (!q.follow) return;
    for (;;) {
      if (closed()) return;
      const live = running();
      if (fd < 0 && existsSync(path)) { fd = openSync(path, 'r'); pos = 0; }
      if (fd >= 0) {
        // rotated: the file we hold was renamed; finish it, then open the new one
        let rotated = false;
        try { rotated = statSync(path).ino !== fstatSync(fd).ino; } catch { rotated = true; }
        const r = readEntries(fd, pos, format);
        pos = r.pos;
        for (const e of r.entries) if (wanted(e, q)) yield e;
        if (rotated) { closeSync(fd); fd = -1; continue; }
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
