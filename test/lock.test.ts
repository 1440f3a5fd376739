// The store's lock between processes: held while a holder lives, free the
// moment it is killed (no stale lock after kill -9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { withFileLock } from '../src/util/lock.js';
import { PREFIX, REPO } from './helpers/env.js';

test('a killed holder leaves the lock free; a live one keeps it', async () => {
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}-lock-`));
  try {
    const lock = join(dir, 'lock'), ready = join(dir, 'ready');
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      import { withFileLock } from '${join(REPO, 'dist', 'src', 'util', 'lock.js')}';
      import { writeFileSync } from 'node:fs';
      withFileLock(${JSON.stringify(lock)}, () => { writeFileSync(${JSON.stringify(ready)}, ''); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000); });
    `], { stdio: 'ignore' });
    for (let i = 0; i < 200 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(existsSync(ready), 'the holder took the lock');
    assert.throws(() => withFileLock(lock, () => 1, 200), /stays locked by another berth process/);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    assert.equal(withFileLock(lock, () => 42, 1000), 42);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
