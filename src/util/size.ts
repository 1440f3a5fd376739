// Sizes as docker and runc take them on the command line (units.RAMInBytes).
import { InvalidInput } from './check.js';

/** docker's RAMInBytes: 64m, 1g, 512k, 1024b, or plain bytes. */
export function bytesOf(field: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new InvalidInput(field, `invalid size: '${v}'`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as 'k'];
  return Math.round(Number(m[1]) * unit);
}
