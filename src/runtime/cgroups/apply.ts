// Carries out a cgroup plan on the host, lists a container's processes, and
// removes its cgroups.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { has, type CgroupHost, type Hierarchy } from './host.js';
import { readInherited, type CgroupPlan, type CgroupWrite } from './plan.js';

/** v2 controllers a cgroup needs enabled in its parents' subtree_control. */
function enableV2Controllers(h: Hierarchy, path: string, wanted: string[]): void {
  const segs = path.split('/').filter(Boolean);
  let dir = h.mount;
  for (let i = 0; i < segs.length; i++) {
    const avail = readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(' ');
    const want = wanted.filter((c) => avail.includes(c));
    if (want.length) {
      try { writeFileSync(join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' ')); } catch { /* a controller busy in a parent stays off */ }
    }
    dir = join(dir, segs[i]);
    mkdirSync(dir, { recursive: true });
  }
}

/** Makes the plan's directories (and their parents, as each version needs them) and writes its files in order. */
export function applyCgroup(host: CgroupHost, path: string, plan: CgroupPlan): void {
  for (const h of host.hierarchies) {
    if (h.version === 1 && has(h, 'cpuset')) {
      // v1 cpuset parents we create must get cpus/mems before a child can
      const segs = path.split('/').filter(Boolean);
      let rel = '';
      for (const s of segs.slice(0, -1)) {
        rel += `/${s}`;
        const d = join(h.mount, rel);
        if (!existsSync(d)) {
          mkdirSync(d);
          for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(d, f), readInherited(h, rel.slice(0, rel.lastIndexOf('/')), f));
        }
      }
    }
    if (h.version === 2) enableV2Controllers(h, path, ['cpu', 'cpuset', 'io', 'memory', 'pids', 'hugetlb']);
  }
  for (const d of plan.dirs) mkdirSync(d, { recursive: true });
  for (const w of plan.writes) writeOne(w);
}

/** One write of a plan: to its file, or to `or` where the kernel has no such file. */
function writeOne({ file, value, or }: CgroupWrite): void {
  const target = or && !existsSync(file) ? or : file;
  if (!existsSync(target)) throw new Error(`cgroup: ${or ? `neither ${basename(file)} nor ${basename(or)}` : basename(file)} exists in ${dirname(file)}: this kernel does not provide it`);
  try {
    writeFileSync(target, value);
  } catch (e) {
    throw new Error(`cgroup: write ${JSON.stringify(value)} to ${target}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Carries out a plan on a running container's cgroups (update): the same
 * writes as at create, but not the device rules, which stay as created. A
 * limit raised above another's old value (memory above the old
 * memory+swap, or the reverse) is refused in one order and taken in the
 * other: what failed is tried again once, in reverse. Returns the writes the
 * kernel still refused.
 */
export function updateCgroup(plan: CgroupPlan): CgroupWrite[] {
  let pending = plan.writes.filter((w) => !/\/devices\.(allow|deny)$/.test(w.file));
  for (let round = 0; round < 2 && pending.length; round++) {
    const failed: CgroupWrite[] = [];
    for (const w of pending) { try { writeOne(w); } catch { failed.push(w); } }
    pending = failed.reverse();
  }
  return pending;
}

/** Pids of every process in the container's cgroup. */
export function cgroupPids(dirs: string[]): number[] {
  const d = dirs.find((x) => existsSync(join(x, 'cgroup.procs')));
  if (!d) return [];
  const all = new Set<number>();
  const walk = (dir: string) => {
    for (const l of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (l) all.add(Number(l));
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
  };
  walk(d);
  return [...all];
}

/** Removes the container's cgroups (children first); retries while tasks exit. */
export async function destroyCgroup(dirs: string[]): Promise<void> {
  // rmdir first: a cgroup's control files do not count, and listing them costs more than the rmdir
  const rm = (dir: string) => {
    try { rmdirSync(dir); return; } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      const children = readdirSync(dir, { withFileTypes: true }).filter((c) => c.isDirectory());
      if (!children.length) throw e;
      for (const c of children) rm(join(dir, c.name));
    }
    rmdirSync(dir);
  };
  for (const d of dirs) {
    for (let i = 0; ; i++) {
      try { rm(d); break; } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i >= 100) throw new Error(`cgroup: remove ${d}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }
}

