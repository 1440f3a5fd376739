// Signal names (SIGTERM, TERM, term) and numbers, as runc's kill accepts them.
import { constants } from 'node:os';
import { InvalidInput } from '../util/check.js';

export function signalNumber(sig: string | number): number {
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    if (n < 1 || n > 64) throw new InvalidInput('signal', `${sig} is out of range`);
    return n;
  }
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name);
  if (rt) return 34 + Number(rt[1] ?? 0);
  const n = (constants.signals as Record<string, number>)[name];
  if (n === undefined) throw new InvalidInput('signal', `unknown signal ${JSON.stringify(sig)}`);
  return n;
}
