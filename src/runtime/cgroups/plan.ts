// A container's resources as a plan for this host: the cgroup directories,
// then the file writes in order (data a test compares without root). v1 and
// v2 have a writer each (v1.ts, v2.ts); the controllers that are one file
// on both are written here.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInput } from '../../util/check.js';
import type { Device, DeviceRule, Resources } from '../config.js';
import { compileDeviceFilter } from './device-filter.js';
import { cgroupJoin, has, type CgroupHost, type CgroupJoin, type Hierarchy } from './host.js';
import { blockIOV1, cpuV1, memoryV1 } from './v1.js';
import { blockIOV2, cpuV2, memoryV2 } from './v2.js';

/** Devices every container may use, after the config's own rules (as runc allows them). */
const DEFAULT_ALLOWED: DeviceRule[] = [
  ['c', null, null, 'm'], ['b', null, null, 'm'], ['c', 1, 3, 'rwm'], ['c', 1, 5, 'rwm'], ['c', 1, 7, 'rwm'],
  ['c', 1, 8, 'rwm'], ['c', 1, 9, 'rwm'], ['c', 5, 0, 'rwm'], ['c', 5, 1, 'rwm'], ['c', 5, 2, 'rwm'], ['c', 136, null, 'rwm'],
].map(([type, major, minor, access]) => ({ allow: true, type: type as 'c' | 'b', major: major as number | null, minor: minor as number | null, access: access as string }));

export function deviceRules(res: Resources, devices: Device[]): DeviceRule[] {
  const own = devices.filter((d) => d.type !== 'p').map((d) => ({ allow: true, type: (d.type === 'u' ? 'c' : d.type) as 'c' | 'b', major: d.major, minor: d.minor, access: 'rwm' }));
  return [...res.devices, ...DEFAULT_ALLOWED, ...own];
}

/** A write; `or`: the file written instead where `file` does not exist (BFQ's weight where the kernel has no CFQ). */
export interface CgroupWrite { file: string; value: string; or?: string }

export interface CgroupPlan {
  dirs: string[];        // cgroup directories of the container, one per hierarchy used
  writes: CgroupWrite[]; // in order
  join: CgroupJoin;
  /** v2 without a v1 devices hierarchy: the eBPF program for the container's v2 dir. */
  deviceFilter?: { dir: string; program: Buffer };
}

/** Turns resources into directory creations and writes for this host. */
export function planCgroup(host: CgroupHost, path: string, res: Resources, devices: Device[] = []): CgroupPlan {
  const dirs: string[] = [], writes: CgroupWrite[] = [];
  const v2 = host.hierarchies.find((h) => h.version === 2);
  const v1 = (c: string) => host.hierarchies.find((h) => h.version === 1 && has(h, c));
  const dirOf = (h: Hierarchy) => join(h.mount, path);
  for (const h of host.hierarchies) {
    dirs.push(dirOf(h));
  }
  const w = (h: Hierarchy | undefined, file: string, value: string | number | bigint, field: string, or?: string) => {
    if (!h) throw new InvalidInput(`linux.resources.${field}`, `no cgroup hierarchy on this host has the controller for it`);
    writes.push({ file: join(dirOf(h), file), value: String(value), ...(or ? { or: join(dirOf(h), or) } : {}) });
  };
  // which version provides each controller: v1 first on hybrid hosts
  const ctl = (c: string): Hierarchy | undefined => v1(c) ?? (v2 && v2.controllers.includes(c) ? v2 : undefined);
  const mem = res.memory, cpu = res.cpu;
  if (mem) {
    const h = ctl('memory');
    if (h?.version === 2) memoryV2((f, v, field) => w(h, f, v, field), mem);
    else memoryV1((f, v, field) => w(h, f, v, field), mem);
  }
  if (cpu) {
    const h = ctl('cpu');
    if (h?.version === 2) cpuV2((f, v, field) => w(h, f, v, field), cpu);
    else cpuV1((f, v, field) => w(h, f, v, field), cpu);
  }
  const cs = ctl('cpuset');
  if (cs?.version === 1) {
    // a v1 cpuset cgroup accepts no task until cpus and mems are set: inherit them
    writes.push({ file: join(dirOf(cs), 'cpuset.cpus'), value: cpu?.cpus || readInherited(cs, path, 'cpuset.cpus') });
    writes.push({ file: join(dirOf(cs), 'cpuset.mems'), value: cpu?.mems || readInherited(cs, path, 'cpuset.mems') });
  } else if (cpu?.cpus || cpu?.mems) {
    if (cpu.cpus) w(cs, 'cpuset.cpus', cpu.cpus, 'cpu.cpus');
    if (cpu.mems) w(cs, 'cpuset.mems', cpu.mems, 'cpu.mems');
  }
  if (res.pids) w(ctl('pids'), 'pids.max', res.pids.limit > 0 ? res.pids.limit : 'max', 'pids.limit');
  const bio = res.blockIO;
  if (bio) {
    const h = ctl(v1('blkio') ? 'blkio' : 'io');
    if (h?.version === 2) blockIOV2((f, v, field, or) => w(h, f, v, field, or), bio);
    else blockIOV1((f, v, field, or) => w(h, f, v, field, or), bio);
  }
  for (const hp of res.hugepageLimits) {
    const h = ctl('hugetlb');
    w(h, h?.version === 2 ? `hugetlb.${hp.pageSize}.max` : `hugetlb.${hp.pageSize}.limit_in_bytes`, hp.limit, 'hugepageLimits');
  }
  const dev = v1('devices');
  let deviceFilter: CgroupPlan['deviceFilter'];
  if (!dev && v2 && res.devices.length) deviceFilter = { dir: dirOf(v2), program: compileDeviceFilter(deviceRules(res, devices)) };
  if (dev) {
    for (const r of res.devices.length ? deviceRules(res, devices) : []) {
      const rule = r.type === 'a' && r.major === null && r.minor === null ? 'a' : `${r.type} ${r.major === null || r.major < 0 ? '*' : r.major}:${r.minor === null || r.minor < 0 ? '*' : r.minor} ${r.access}`;
      writes.push({ file: join(dirOf(dev), r.allow ? 'devices.allow' : 'devices.deny'), value: rule });
    }
  }
  for (const [k, v] of Object.entries(res.unified)) {
    if (!v2) throw new InvalidInput(`linux.resources.unified.${k}`, 'needs cgroup v2');
    if (k.includes('/') || k.startsWith('cgroup.')) throw new InvalidInput(`linux.resources.unified.${k}`, 'not a controller file');
    writes.push({ file: join(dirOf(v2), k), value: v });
  }
  return { dirs, writes, join: cgroupJoin(host, dirs), deviceFilter };
}

/** A file's value in the nearest ancestor that has it (new parents inherit it the same way). */
export function readInherited(h: Hierarchy, path: string, file: string): string {
  // the nearest existing ancestor's value (new parents inherit it the same way)
  for (let p = path; ; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) {
    const f = join(h.mount, p, file);
    if (existsSync(f)) {
      const v = readFileSync(f, 'utf8').trim();
      if (v) return v;
    }
    if (p === '' || p === '/') return readFileSync(join(h.mount, file), 'utf8').trim();
  }
}

