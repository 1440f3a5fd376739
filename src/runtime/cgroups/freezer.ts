// Pausing and resuming a container: v1's freezer, or v2's cgroup.freeze.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { has, type CgroupHost } from './host.js';

export function freezerDir(host: CgroupHost, dirs: string[]): { dir: string; version: 1 | 2 } {
  const i = host.hierarchies.findIndex((h) => h.version === 1 && has(h, 'freezer'));
  if (i >= 0) return { dir: dirs[i], version: 1 };
  const j = host.hierarchies.findIndex((h) => h.version === 2);
  if (j >= 0) return { dir: dirs[j], version: 2 };
  throw new Error('no freezer: neither a v1 freezer hierarchy nor cgroup v2');
}

export async function setFrozen(host: CgroupHost, dirs: string[], frozen: boolean): Promise<void> {
  const f = freezerDir(host, dirs);
  if (f.version === 1) {
    const want = frozen ? 'FROZEN' : 'THAWED';
    writeFileSync(join(f.dir, 'freezer.state'), want);
    for (let i = 0; i < 500; i++) {
      if (readFileSync(join(f.dir, 'freezer.state'), 'utf8').trim() === want) return;
      await new Promise((r) => setTimeout(r, 2));
      writeFileSync(join(f.dir, 'freezer.state'), want);
    }
    throw new Error(`freezer did not reach ${want}`);
  }
  writeFileSync(join(f.dir, 'cgroup.freeze'), frozen ? '1' : '0');
  for (let i = 0; i < 500; i++) {
    const ev = readFileSync(join(f.dir, 'cgroup.events'), 'utf8');
    if (ev.includes(`frozen ${frozen ? 1 : 0}`)) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`cgroup did not ${frozen ? 'freeze' : 'thaw'}`);
}

export function isFrozen(host: CgroupHost, dirs: string[]): boolean {
  try {
    const f = freezerDir(host, dirs);
    if (f.version === 1) return readFileSync(join(f.dir, 'freezer.state'), 'utf8').trim() === 'FROZEN';
    return /frozen 1/.test(readFileSync(join(f.dir, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

