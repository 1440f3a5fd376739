// A lock file between processes, holding the owner's pid: written under a
// private name and hard-linked into place, so it never exists empty. A lock
// whose owner died (kill -9) is taken over.
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

export function withFileLock<T>(path: string, fn: () => T, timeoutMs = 20000): T {
  const start = Date.now();
  for (;;) {
    const mine = `${path}.${process.pid}`;
    writeFileSync(mine, String(process.pid));
    try {
      linkSync(mine, path);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = 0;
      try { holder = Number(readFileSync(path, 'utf8')); } catch { continue; /* just released */ }
      let alive = holder > 0;
      if (alive) { try { process.kill(holder, 0); } catch { alive = false; } }
      if (!alive && holder > 0) { rmSync(path, { force: true }); continue; }
      if (Date.now() - start > timeoutMs) throw new Error(`${path} stays locked by pid ${holder}`);
      pause(2);
    } finally {
      rmSync(mine, { force: true });
    }
  }
  try {
    return fn();
  } finally {
    rmSync(path, { force: true });
  }
}
