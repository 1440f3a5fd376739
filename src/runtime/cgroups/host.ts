// The host's cgroup layout (v1, v2 or hybrid), read once from mountinfo and
// /proc/self/cgroup; where a container's cgroup goes, and how a new process
// joins it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInput } from '../../util/check.js';

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

/** Whether hierarchy `h` carries controller `c`. */
export const has = (h: Hierarchy, c: string) => h.controllers.includes(c);

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


/** Whether the OOM killer can be disabled for a cgroup: v1's memory.oom_control; cgroup v2 has no such switch. */
export function oomKillDisableSupported(host: CgroupHost): boolean {
  return host.hierarchies.some((h) => h.version === 1 && has(h, 'memory'));
}

/** Whether the v1 hierarchy of `controller` has `file` (memory.swappiness, cpu.rt_runtime_us); cgroup v2 has neither knob. */
export function v1KnobSupported(host: CgroupHost, controller: string, file: string): boolean {
  const h = host.hierarchies.find((x) => x.version === 1 && has(x, controller));
  return !!h && existsSync(join(h.mount, file));
}
