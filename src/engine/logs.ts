// Reads the json-file logs the shim writes (<id>-json.log and its rotated
// .1 .. .N), with docker's options: tail, since, until, timestamps, follow.
import { existsSync, openSync, readSync, closeSync, fstatSync, statSync } from 'node:fs';

export interface LogEntry { stream: 'stdout' | 'stderr'; time: string; log: Buffer }
export interface LogQuery { stdout: boolean; stderr: boolean; since?: number; until?: number; tail?: number; follow: boolean }

function files(path: string): string[] {
  const out: string[] = [];
  for (let i = 1; existsSync(`${path}.${i}`); i++) out.unshift(`${path}.${i}`);
  if (existsSync(path)) out.push(path);
  return out;
}

function parseLine(line: string): LogEntry | undefined {
  try {
    const e = JSON.parse(line) as { log: string; stream: 'stdout' | 'stderr'; time: string };
    return { stream: e.stream, time: e.time, log: Buffer.from(e.log) };
  } catch { return undefined; /* a line cut by a crash */ }
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

/** Reads whole lines from `fd` at `pos`; returns the lines and the new position. */
function readLines(fd: number, pos: number): { lines: string[]; pos: number } {
  const size = fstatSync(fd).size;
  if (size <= pos) return { lines: [], pos };
  const buf = Buffer.alloc(size - pos);
  const n = readSync(fd, buf, 0, buf.length, pos);
  const end = buf.lastIndexOf(10, n - 1);
  if (end < 0) return { lines: [], pos };
  return { lines: buf.subarray(0, end).toString('utf8').split('\n'), pos: pos + end + 1 };
}

/**
 * Yields the entries the query asks for; with `follow`, goes on until
 * `running()` is false and the log is read to its end.
 */
export async function* readLogs(path: string, q: LogQuery, running: () => boolean, closed: () => boolean): AsyncGenerator<LogEntry> {
  const existing: LogEntry[] = [];
  let fd = -1, pos = 0;
  for (const f of files(path)) {
    const h = openSync(f, 'r');
    const r = readLines(h, 0);
    for (const l of r.lines) { const e = parseLine(l); if (e && wanted(e, q)) existing.push(e); }
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
        const r = readLines(fd, pos);
        pos = r.pos;
        for (const l of r.lines) { const e = parseLine(l); if (e && wanted(e, q)) yield e; }
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
