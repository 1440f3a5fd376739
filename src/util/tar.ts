// GNU tar for a stream: what cp and export pack, and what the CLI's cp unpacks.
import { spawn, type ChildProcess } from 'node:child_process';

/** Packing to stdout as berth does everywhere: numeric owners and every xattr kept. */
export const PACK = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-cf', '-'];

/**
 * Runs tar with a pipe for its stdin ('in') or its stdout ('out'); `done`
 * settles when it ends, rejected with what tar said when it failed.
 */
export function runTar(args: string[], stdio: 'in' | 'out'): { t: ChildProcess; done: Promise<void> } {
  const t = spawn('tar', args, { stdio: stdio === 'in' ? ['pipe', 'ignore', 'pipe'] : ['ignore', 'pipe', 'pipe'] });
  let err = '';
  t.stderr!.on('data', (d: Buffer) => { err += d; });
  const done = new Promise<void>((res, rej) => {
    t.on('error', (e) => rej(new Error(`tar: ${e.message}`)));
    t.on('close', (code) => (code === 0 ? res() : rej(new Error(`tar: ${err.trim() || `exit ${code}`}`))));
  });
  return { t, done };
}
