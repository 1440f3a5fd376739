// cgroups v1, v2 and hybrid hosts. The resources of a config become a list
// of directory creations and file writes (data a test can compare); apply()
// carries them out, destroy() undoes them.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InvalidInput } from '../../util/check.js';
import type { Device, DeviceRule, Resources } from '../config.js';
import { compileDeviceFilter } from './device-filter.js';

/** Devices every container may use, after the config's own rules (as runc allows them). */
const DEFAULT_ALLOWED: DeviceRule[] = [
  ['c', null, null, 'm'], ['b', null, null, 'm'], ['c', 1, 3, 'rwm'], ['c', 1, 5, 'rwm'], ['c', 1, 7, 'rwm'],
  ['c', 1, 8, 'rwm'], ['c', 1, 9, 'rwm'], ['c', 5, 0, 'rwm'], ['c', 5, 1, 'rwm'], ['c', 5, 2, 'rwm'], ['c', 136, null, 'rwm'],
].map(([type, major, minor, access]) => ({ allow: true, type: type as 'c' | 'b', major: major as number | null, minor: minor as number | null, access: access as string }));

export function deviceRules(res: Resources, devices: Device[]): DeviceRule[] {
  const own = devices.filter((d) => d.type !== 'p').map((d) => ({ allow: true, type: (d.type === 'u' ? 'c' : d.type) as 'c' | 'b', major: d.major, minor: d.minor, access: 'rwm' }));
  return [...res.devices, ...DEFAULT_ALLOWED, ...own];
}

export interface Hierarchy {
  version: 1 | 2;
  mount: string;            // e.g. /sys/fs/cgroup/memory or /sys/fs/cgroup/unified
  controllers: string[];    // v1: the mount's controllers (incl. name=...); v2: cgroup.controllers
  own: string;              // this process's cgroup in it
}

export interface CgroupHost {
  mode: 'v1' | 'hybrid' | 'v2';
  hierarchies: Hierarchy[];
}

let cachedHost: CgroupHost | undefined;

/** Reads the host's cgroup layout from mountinfo and /proc/self/cgroup. */
export function detectHost(): CgroupHost {
  if (cachedHost) return cachedHost;
  const own = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) own.set(m[1], m[2]);
  }
  const hierarchies: Hierarchy[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const [fstype, , superOpts] = line.slice(sep + 3).split(' ');
    const mount = fields[4];
    if (fields[3] !== '/') continue; // a bind of a sub-cgroup is not the hierarchy's root
    if (fstype === 'cgroup2') {
      const ctl = readFileSync(join(mount, 'cgroup.controllers'), 'utf8').trim();
      hierarchies.push({ version: 2, mount, controllers: ctl ? ctl.split(' ') : [], own: own.get('') ?? '/' });
    } else if (fstype === 'cgroup') {
      const known = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'blkio', 'perf_event', 'net_prio', 'hugetlb', 'pids', 'rdma', 'misc'];
      const controllers = superOpts.split(',').filter((o) => known.includes(o) || o.startsWith('name='));
      if (hierarchies.some((h) => h.version === 1 && h.controllers.join() === controllers.join())) continue;
      hierarchies.push({ version: 1, mount, controllers, own: own.get(controllers.join(',')) ?? '/' });
    }
  }
  const v1 = hierarchies.some((h) => h.version === 1), v2 = hierarchies.some((h) => h.version === 2);
  if (!v1 && !v2) throw new Error('no cgroup filesystem is mounted');
  cachedHost = { mode: v1 && v2 ? 'hybrid' : v1 ? 'v1' : 'v2', hierarchies };
  return cachedHost;
}

/** The cgroup path for a container: OCI cgroupsPath, systemd "slice:prefix:name", or /berth/<id>. */
export function containerCgroupPath(cgroupsPath: string | undefined, id: string, own = '/'): string {
  if (!cgroupsPath) return `/berth/${id}`;
  const parts = cgroupsPath.split(':');
  if (parts.length === 3 && !cgroupsPath.startsWith('/')) {
    // systemd notation without systemd: the same tree systemd would build
    const [slice, prefix, name] = parts;
    let dir = '';
    if (slice) {
      const base = slice.replace(/\.slice$/, '');
      const segs = base.split('-');
      dir = segs.map((_, i) => `/${segs.slice(0, i + 1).join('-')}.slice`).join('');
    } else dir = '/system.slice';
    return `${dir}/${prefix ? `${prefix}-` : ''}${name}.scope`;
  }
  if (cgroupsPath.split('/').includes('..')) throw new InvalidInput('linux.cgroupsPath', 'must not contain ".."');
  return cgroupsPath.startsWith('/') ? cgroupsPath : join(own, cgroupsPath);
}

/** A write; `or`: the file written instead where `file` does not exist (BFQ's weight where the kernel has no CFQ). */
export interface CgroupWrite { file: string; value: string; or?: string }

/**
 * How a new process enters a container's cgroups. A cgroup.procs write takes
 * the kernel's global threadgroup lock, whose first writer waits out an RCU
 * grace period: 5-14 ms here, paid by every create and exec. So a v1
 * hierarchy is joined by the (single-threaded) child writing "0" to its own
 * `tasks` file, which moves only the caller and skips that lock, and the v2
 * hierarchy by clone3(CLONE_INTO_CGROUP).
 */
export interface CgroupJoin {
  tasks: string[];  // v1 `tasks` files
  v2Dir?: string;   // the v2 directory the child is cloned into
}

/** The join for a container's cgroup directories (CgroupPlan.dirs or ContainerState.cgroupDirs). */
export function cgroupJoin(host: CgroupHost, dirs: string[]): CgroupJoin {
  const out: CgroupJoin = { tasks: [] };
  for (const d of dirs) {
    const h = host.hierarchies.find((x) => d === x.mount || d.startsWith(`${x.mount}/`));
    if (h?.version === 2) out.v2Dir = d;
    else out.tasks.push(join(d, 'tasks'));
  }
  return out;
}
export interface CgroupPlan {
  dirs: string[];        // cgroup directories of the container, one per hierarchy used
  writes: CgroupWrite[]; // in order
  join: CgroupJoin;
  /** v2 without a v1 devices hierarchy: the eBPF program for the container's v2 dir. */
  deviceFilter?: { dir: string; program: Buffer };
}

const has = (h: Hierarchy, c: string) => h.controllers.includes(c);

function sharesToWeight(shares: number): number {
  // the conversion runc and crun use: [2, 262144] -> [1, 10000]
  return shares === 0 ? 0 : Math.max(1, Math.min(10000, 1 + Math.floor(((shares - 2) * 9999) / 262142)));
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
    const lim = (v: bigint | undefined) => (v === undefined ? undefined : v < 0n ? (h?.version === 2 ? 'max' : '-1') : v);
    if (h?.version === 1 || !h) {
      if (mem.limit !== undefined) w(h, 'memory.limit_in_bytes', lim(mem.limit)!, 'memory.limit');
      if (mem.swap !== undefined) w(h, 'memory.memsw.limit_in_bytes', lim(mem.swap)!, 'memory.swap');
      if (mem.reservation !== undefined) w(h, 'memory.soft_limit_in_bytes', lim(mem.reservation)!, 'memory.reservation');
      if (mem.swappiness !== undefined) w(h, 'memory.swappiness', mem.swappiness, 'memory.swappiness');
      if (mem.disableOOMKiller) w(h, 'memory.oom_control', 1, 'memory.disableOOMKiller');
    } else {
      if (mem.limit !== undefined) w(h, 'memory.max', lim(mem.limit)!, 'memory.limit');
      if (mem.swap !== undefined) {
        // OCI swap is memory+swap; v2 counts swap alone
        const swap = mem.swap < 0n ? 'max' : mem.limit !== undefined && mem.limit > 0n ? mem.swap - mem.limit : mem.swap;
        if (typeof swap === 'bigint' && swap < 0n) throw new InvalidInput('linux.resources.memory.swap', 'must not be below memory.limit');
        w(h, 'memory.swap.max', swap, 'memory.swap');
      }
      if (mem.reservation !== undefined) w(h, 'memory.low', lim(mem.reservation)!, 'memory.reservation');
      if (mem.disableOOMKiller) throw new InvalidInput('linux.resources.memory.disableOOMKiller', 'cgroup v2 has no way to disable the OOM killer');
    }
  }
  if (cpu) {
    const h = ctl('cpu');
    if (h?.version === 2) {
      if (cpu.shares) w(h, 'cpu.weight', sharesToWeight(cpu.shares), 'cpu.shares');
      if (cpu.quota !== undefined || cpu.period !== undefined) {
        w(h, 'cpu.max', `${cpu.quota === undefined || cpu.quota <= 0 ? 'max' : cpu.quota} ${cpu.period ?? 100000}`, 'cpu.quota');
      }
      if (cpu.idle !== undefined) w(h, 'cpu.idle', cpu.idle, 'cpu.idle');
    } else {
      if (cpu.shares) w(h, 'cpu.shares', cpu.shares, 'cpu.shares');
      if (cpu.period) w(h, 'cpu.cfs_period_us', cpu.period, 'cpu.period');
      if (cpu.quota !== undefined) w(h, 'cpu.cfs_quota_us', cpu.quota <= 0 ? -1 : cpu.quota, 'cpu.quota');
      if (cpu.realtimePeriod) w(h, 'cpu.rt_period_us', cpu.realtimePeriod, 'cpu.realtimePeriod');
      if (cpu.realtimeRuntime !== undefined) w(h, 'cpu.rt_runtime_us', cpu.realtimeRuntime, 'cpu.realtimeRuntime');
    }
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
    if (h?.version === 2) {
      if (bio.weight) w(h, 'io.bfq.weight', `default ${bio.weight}`, 'blockIO.weight', 'io.weight');
      for (const d of bio.weightDevice) if (d.weight) w(h, 'io.weight', `${d.major}:${d.minor} ${d.weight}`, 'blockIO.weightDevice');
      const io = new Map<string, string[]>();
      const add = (list: typeof bio.throttleReadBpsDevice, key: string) => list.forEach((d) => {
        const k = `${d.major}:${d.minor}`;
        io.set(k, [...(io.get(k) ?? []), `${key}=${d.rate}`]);
      });
      add(bio.throttleReadBpsDevice, 'rbps'); add(bio.throttleWriteBpsDevice, 'wbps');
      add(bio.throttleReadIOPSDevice, 'riops'); add(bio.throttleWriteIOPSDevice, 'wiops');
      for (const [dev, kv] of io) w(h, 'io.max', `${dev} ${kv.join(' ')}`, 'blockIO');
    } else {
      if (bio.weight) w(h, 'blkio.weight', bio.weight, 'blockIO.weight', 'blkio.bfq.weight');
      if (bio.leafWeight) w(h, 'blkio.leaf_weight', bio.leafWeight, 'blockIO.leafWeight');
      for (const d of bio.weightDevice) if (d.weight) w(h, 'blkio.weight_device', `${d.major}:${d.minor} ${d.weight}`, 'blockIO.weightDevice');
      const t = (list: typeof bio.throttleReadBpsDevice, file: string) => list.forEach((d) => w(h, file, `${d.major}:${d.minor} ${d.rate}`, 'blockIO'));
      t(bio.throttleReadBpsDevice, 'blkio.throttle.read_bps_device'); t(bio.throttleWriteBpsDevice, 'blkio.throttle.write_bps_device');
      t(bio.throttleReadIOPSDevice, 'blkio.throttle.read_iops_device'); t(bio.throttleWriteIOPSDevice, 'blkio.throttle.write_iops_device');
    }
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

function readInherited(h: Hierarchy, path: string, file: string): string {
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
  for (const { file, value, or } of plan.writes) {
    const target = or && !existsSync(file) ? or : file;
    if (!existsSync(target)) throw new Error(`cgroup: ${or ? `neither ${basename(file)} nor ${basename(or)}` : basename(file)} exists in ${dirname(file)}: this kernel does not provide it`);
    try {
      writeFileSync(target, value);
    } catch (e) {
      throw new Error(`cgroup: write ${JSON.stringify(value)} to ${target}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
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

const findDir = (host: CgroupHost, dirs: string[], c: string): string | undefined => {
  const v1 = host.hierarchies.findIndex((h) => h.version === 1 && has(h, c));
  if (v1 >= 0) return dirs[v1];
  const v2 = host.hierarchies.findIndex((h) => h.version === 2 && h.controllers.includes(c));
  return v2 >= 0 ? dirs[v2] : undefined;
};

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

const readNum = (file: string): number | undefined => {
  try {
    const v = readFileSync(file, 'utf8').trim();
    return v === 'max' ? undefined : Number(v);
  } catch { return undefined; }
};
const readKV = (file: string): Record<string, number> => {
  const out: Record<string, number> = {};
  try {
    for (const l of readFileSync(file, 'utf8').split('\n')) {
      const [k, v] = l.split(/\s+/);
      if (k && v !== undefined) out[k] = Number(v);
    }
  } catch { /* missing controller file */ }
  return out;
};

export interface CgroupStats {
  memory: { usage?: number; maxUsage?: number; limit?: number; oomKill: number; failcnt?: number; cache?: number; rss?: number; inactiveFile?: number };
  cpu: { usageNs?: number; userNs?: number; systemNs?: number; throttledPeriods?: number; throttledNs?: number };
  pids: { current?: number; limit?: number };
  blkio: { readBytes: number; writeBytes: number };
}

/**
 * Whether cgroups under `parent` take a block I/O weight: CFQ's file or
 * BFQ's. Docker asks the same before it keeps --blkio-weight, and drops it
 * with a warning otherwise. The weight files exist below the root only:
 * `parent` is made, as a start would make it, to look. A v2 parent that does
 * not have the io controller yet is assumed able (the start enables it).
 */
export function blockWeightSupported(host: CgroupHost, parent: string): boolean {
  const v1 = host.hierarchies.find((h) => h.version === 1 && has(h, 'blkio'));
  const h = v1 ?? host.hierarchies.find((x) => x.version === 2 && has(x, 'io'));
  if (!h) return false;
  const dir = join(h.mount, parent);
  if (h.version === 2 && !(existsSync(dir) && readFileSync(join(dir, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('io'))) return true;
  try { mkdirSync(dir, { recursive: true }); } catch { return false; }
  return (h.version === 1 ? ['blkio.weight', 'blkio.bfq.weight'] : ['io.weight', 'io.bfq.weight']).some((f) => existsSync(join(dir, f)));
}

/** The memory cgroup's OOM kill count alone (a container's end asks only this). */
export function readOomKills(host: CgroupHost, dirs: string[]): number {
  const mem = findDir(host, dirs, 'memory');
  if (!mem) return 0;
  const v2 = readKV(join(mem, 'memory.events'));
  return (v2.oom_kill ?? readKV(join(mem, 'memory.oom_control')).oom_kill) ?? 0;
}

export function readStats(host: CgroupHost, dirs: string[]): CgroupStats {
  const mem = findDir(host, dirs, 'memory'), cpu = findDir(host, dirs, 'cpu'), acct = findDir(host, dirs, 'cpuacct') ?? cpu;
  const pids = findDir(host, dirs, 'pids'), blk = findDir(host, dirs, 'blkio') ?? findDir(host, dirs, 'io');
  const memV2 = !!mem && existsSync(join(mem, 'memory.current'));
  const s: CgroupStats = { memory: { oomKill: 0 }, cpu: {}, pids: {}, blkio: { readBytes: 0, writeBytes: 0 } };
  if (mem) {
    if (memV2) {
      const ev = readKV(join(mem, 'memory.events')), st = readKV(join(mem, 'memory.stat'));
      Object.assign(s.memory, { usage: readNum(join(mem, 'memory.current')), maxUsage: readNum(join(mem, 'memory.peak')), limit: readNum(join(mem, 'memory.max')), oomKill: ev.oom_kill ?? 0, cache: st.file, rss: st.anon, inactiveFile: st.inactive_file });
    } else {
      const oc = readKV(join(mem, 'memory.oom_control')), st = readKV(join(mem, 'memory.stat'));
      const lim = readNum(join(mem, 'memory.limit_in_bytes'));
      Object.assign(s.memory, {
        usage: readNum(join(mem, 'memory.usage_in_bytes')), maxUsage: readNum(join(mem, 'memory.max_usage_in_bytes')),
        limit: lim !== undefined && lim >= 2 ** 62 ? undefined : lim, oomKill: oc.oom_kill ?? 0,
        failcnt: readNum(join(mem, 'memory.failcnt')), cache: st.cache, rss: st.rss, inactiveFile: st.total_inactive_file,
      });
    }
  }
  if (cpu && existsSync(join(cpu, 'cpu.stat'))) {
    const st = readKV(join(cpu, 'cpu.stat'));
    if (st.usage_usec !== undefined) {
      Object.assign(s.cpu, { usageNs: st.usage_usec * 1000, userNs: st.user_usec * 1000, systemNs: st.system_usec * 1000, throttledPeriods: st.nr_throttled, throttledNs: (st.throttled_usec ?? 0) * 1000 });
    } else {
      Object.assign(s.cpu, { throttledPeriods: st.nr_throttled, throttledNs: st.throttled_time });
    }
  }
  if (acct && existsSync(join(acct, 'cpuacct.usage'))) {
    s.cpu.usageNs = readNum(join(acct, 'cpuacct.usage'));
    const st = readKV(join(acct, 'cpuacct.stat'));
    const hz = 100; // USER_HZ on Linux
    if (st.user !== undefined) { s.cpu.userNs = (st.user * 1e9) / hz; s.cpu.systemNs = (st.system * 1e9) / hz; }
  }
  if (pids) {
    s.pids.current = readNum(join(pids, 'pids.current'));
    s.pids.limit = readNum(join(pids, 'pids.max'));
  }
  if (blk) {
    if (existsSync(join(blk, 'io.stat'))) {
      for (const l of readFileSync(join(blk, 'io.stat'), 'utf8').split('\n')) {
        s.blkio.readBytes += Number(/rbytes=(\d+)/.exec(l)?.[1] ?? 0);
        s.blkio.writeBytes += Number(/wbytes=(\d+)/.exec(l)?.[1] ?? 0);
      }
    } else {
      try {
        for (const l of readFileSync(join(blk, 'blkio.throttle.io_service_bytes'), 'utf8').split('\n')) {
          const [, op, v] = l.split(' ');
          if (op === 'Read') s.blkio.readBytes += Number(v);
          if (op === 'Write') s.blkio.writeBytes += Number(v);
        }
      } catch { /* no blkio stats */ }
    }
  }
  return s;
}
