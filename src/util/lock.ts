// A lock between processes: flock on a lock file. The kernel releases it
// when the holder exits or is killed, so a crash never leaves it held.
import { closeSync, openSync } from 'node:fs';
import { fsx } from './fsx.js';

/** Blocks this thread for `ms` (for waits too short to give the event loop back). */
export const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

export function withFileLock<T>(path: string, fn: () => T, timeoutMs = 60000): T {
  const fd = openSync(path, 'a', 0o600);
  try {
    const start = Date.now();
    while (!fsx().tryLock(fd)) {
      if (Date.now() - start > timeoutMs) throw new Error(`${path} stays locked by another berth process`);
      pause(2);
    }
    return fn(); // closing the fd releases the lock
  } finally {
    closeSync(fd);
  }
}
