// Output formats the CLI verbs share.

/** The small part of Go templates people use with --format: {{.A.B}} and {{json .A}}. */
export function formatGo(tpl: string, v: unknown): string {
  return tpl.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_, json: string | undefined, path: string) => {
    let x: unknown = v;
    for (const k of path.split('.').filter(Boolean)) x = (x as Record<string, unknown> | undefined)?.[k];
    return json ? JSON.stringify(x) : x === undefined || x === null ? '<no value>' : typeof x === 'object' ? JSON.stringify(x) : String(x);
  });
}

/** Columns padded as docker's tabwriter pads them: three spaces after the widest cell, ten at least in all. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(10, 3 + Math.max(...rows.map((r) => (r[i] ?? '').length))));
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
