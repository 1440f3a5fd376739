// Output formats the CLI verbs share.
import { goDurationNs } from '../util/duration.js';
import { executeTemplate } from './template.js';

/** A Go template as docker's --format applies it (template.ts). */
export function formatGo(tpl: string, v: unknown): string {
  return executeTemplate(tpl, v);
}

/**
 * docker's --format for a list: a line per item, with `\t` and `\n` read as
 * docker reads them; with a `table` prefix, first a line of the fields'
 * column names (`headers`, else the field in capitals), and the cells padded
 * as docker's tabwriter pads them.
 */
export function formatList(tpl: string, items: unknown[], headers: Record<string, string>): string {
  const unescape = (s: string) => s.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const m = /^table(\s+|$)([\s\S]*)$/.exec(tpl);
  if (!m) return items.map((x) => `${formatGo(unescape(tpl), x)}\n`).join('');
  const line = unescape(m[2]!);
  const names = new Proxy({}, { get: (_t, k) => headers[String(k)] ?? String(k).toUpperCase() });
  return table([formatGo(line, names), ...items.map((x) => formatGo(line, x))].map((l) => l.split('\t')));
}

/** Columns padded as docker's tabwriter pads them: three spaces after the widest cell, `min` (ten) at least in all. */
export function table(rows: string[][], min = 10): string {
  const widths = rows[0]!.map((_, i) => Math.max(min, 3 + Math.max(...rows.map((r) => (r[i] ?? '').length))));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('').trimEnd()).join('\n') + '\n';
}

function humanSize(n: number, base: number, names: string[], digits: number): string {
  let i = 0;
  while (n >= base && i < names.length - 1) { n /= base; i++; }
  return `${Number(n.toPrecision(digits))}${names[i]}`;
}

/** docker's HumanSizeWithPrecision: decimal units, 3 significant digits (images, I/O counters) or 4 (system df). */
export const units = (n: number, digits = 3): string => humanSize(n, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB'], digits);

/** docker's BytesSize: binary units, 4 significant digits (memory). */
export const binaryUnits = (n: number): string => humanSize(n, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], 4);

/**
 * A --since or --until value as the API's unix time ("SECONDS.FRACTION"), from
 * the forms docker's CLI takes: unix seconds, an RFC 3339 time or date, or a
 * duration before now ("10m", "1h30m").
 */
export function unixTime(v: string, flag: string, now = Date.now()): string {
  if (/^\d+(\.\d+)?$/.test(v)) return v;
  const ns = goDurationNs(v);
  if (ns !== undefined) return ((now - ns / 1e6) / 1000).toFixed(3);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`${flag}: "${v}" is not a time: use unix seconds, RFC 3339 (2026-01-02T15:04:05Z) or a duration before now (10m, 1h30m)`);
  return (t / 1000).toFixed(3);
}

/** A time as docker's CLI prints an event's: RFC 3339 with nine decimals, in local time ("2026-11-23T01:03:38.048000000Z"). */
export function rfc3339NanoFixed(timeNano: number): string {
  const ms = Math.round(timeNano / 1e6); // berthd's times are to the millisecond
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000000${zone}`;
}
