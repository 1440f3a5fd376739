// A container's docker-style configuration (Config + HostConfig, already
// merged with its image) turned into an OCI config.json: pure data, so it
// can be tested without root.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DockerWords, InvalidInput } from '../util/check.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../runtime/index.js';
import { defaultSeccomp } from './seccomp-default.js';
import { DEVICE_RULE } from './validate.js';
import type { ContainerConfig, HostConfig } from './types.js';

/** Where --init's tiny init (native/init) is bound in a container. */
export const INIT_TARGET = '/sbin/berth-init';

export interface SpecMount { destination: string; type: string; source: string; options: string[] }

export interface SpecInput {
  id: string;
  config: ContainerConfig;
  host: HostConfig;
  rootfs: string;
  /** /etc/hostname, /etc/hosts, /etc/resolv.conf prepared by the engine */
  etcFiles: { hostname: string; hosts: string; resolvConf: string };
  /** volumes and binds, already resolved to host paths */
  mounts: SpecMount[];
  /** the init berth provides for --init */
  initPath?: string;
  cgroupParent?: string;
  /** "container:NAME" modes: the pid of the container whose namespaces are joined, by namespace */
  joined?: Partial<Record<'network' | 'ipc' | 'pid', number>>;
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Reads name:x:id:... files of the container's root without following links out of it. */
function readRootFile(rootfs: string, path: string): string[][] {
  try {
    const real = realpathSync(join(rootfs, path));
    if (!real.startsWith(`${realpathSync(rootfs)}/`)) return [];
    return readFileSync(real, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch { return []; }
}

/** A gid, or a group name looked up in the image's /etc/group entries. */
function groupId(groups: string[][], g: string, field: string): number {
  if (/^\d+$/.test(g)) return Number(g);
  const e = groups.find((p) => p[0] === g);
  if (!e) throw new InvalidInput(field, `unable to find group ${g}: no matching entries in group file`);
  return Number(e[2]);
}

/** docker's --user: name|uid[:group|gid], looked up in the image's /etc/passwd and /etc/group. */
export function resolveUser(rootfs: string, user: string): { uid: number; gid: number; additionalGids: number[] } {
  if (!user) user = '0';
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const passwd = readRootFile(rootfs, 'etc/passwd');
  const groups = readRootFile(rootfs, 'etc/group');
  let uid: number, gid = 0, name: string | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const e = passwd.find((p) => p[2] === u);
    if (e) { gid = Number(e[3]); name = e[0]; }
  } else {
    const e = passwd.find((p) => p[0] === u);
    if (!e) throw new InvalidInput('User', `unable to find user ${u}: no matching entries in passwd file`);
    uid = Number(e[2]); gid = Number(e[3]); name = u;
  }
  if (g !== undefined) gid = groupId(groups, g, 'User');
  const additionalGids = name ? groups.filter((e) => (e[3] ?? '').split(',').includes(name!)).map((e) => Number(e[2])).filter((x) => x !== gid) : [];
  return { uid, gid, additionalGids };
}

const bytes = (n: number | undefined) => (n && n > 0 ? n : undefined);

function capName(c: string): string {
  const up = c.toUpperCase();
  return up.startsWith('CAP_') ? up : `CAP_${up}`;
}

export function capabilities(host: HostConfig): string[] {
  if (host.Privileged) return [...ALL_CAPABILITIES];
  const add = (host.CapAdd ?? []).map(capName), drop = (host.CapDrop ?? []).map(capName);
  for (const c of [...add, ...drop]) {
    if (c !== 'CAP_ALL' && !ALL_CAPABILITIES.includes(c)) throw new InvalidInput('HostConfig.CapAdd/CapDrop', `unknown capability: "${c}"`);
  }
  let caps = add.includes('CAP_ALL') ? [...ALL_CAPABILITIES] : [...DEFAULT_CAPABILITIES, ...add.filter((c) => !DEFAULT_CAPABILITIES.includes(c))];
  if (drop.includes('CAP_ALL')) caps = add.filter((c) => c !== 'CAP_ALL');
  else caps = caps.filter((c) => !drop.includes(c));
  return caps;
}

function parseDevice(spec: { PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }) {
  const host = spec.PathOnHost;
  let st;
  try { st = readDeviceNumbers(host); } catch { throw new InvalidInput('HostConfig.Devices', `error gathering device information while adding custom device "${host}": no such file or directory`); }
  return { path: spec.PathInContainer || host, type: st.type, major: st.major, minor: st.minor, access: spec.CgroupPermissions || 'rwm' };
}

/** A device cgroup rule ("c 1:3 mr", checked at create) as an OCI allow entry; "*" is any number. */
function deviceRule(rule: string) {
  const [, type, major, minor, access] = DEVICE_RULE.exec(rule)!;
  const num = (n: string) => (n === '*' ? undefined : Number(n));
  return { allow: true, type, major: num(major!), minor: num(minor!), access };
}

function readDeviceNumbers(path: string): { type: 'c' | 'b'; major: number; minor: number } {
  const st = statSync(path);
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw new Error('not a device');
  const rdev = st.rdev;
  return { type: st.isCharacterDevice() ? 'c' : 'b', major: (rdev >> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
}

const ULIMIT_NAMES: Record<string, string> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS', memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE', nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME', sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK', as: 'RLIMIT_AS',
};

/** docker --tmpfs options ("size=64m,mode=1777") as mount options. */
function tmpfsOptions(opts: string): string[] {
  const out = ['nosuid', 'nodev', 'noexec'];
  for (const o of opts.split(',').filter(Boolean)) {
    if (o === 'exec') out.splice(out.indexOf('noexec'), 1);
    else if (o === 'suid') out.splice(out.indexOf('nosuid'), 1);
    else if (o === 'dev') out.splice(out.indexOf('nodev'), 1);
    else out.push(o);
  }
  return out;
}

export function securityOptions(host: HostConfig): { noNewPrivileges: boolean; seccomp: 'default' | 'unconfined' | object } {
  let noNewPrivileges = false;
  let seccomp: 'default' | 'unconfined' | object = host.Privileged ? 'unconfined' : 'default';
  for (const o of host.SecurityOpt ?? []) {
    const [k, v = ''] = o.includes('=') ? [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)] : o.split(':', 2) as [string, string?];
    if (k === 'no-new-privileges') noNewPrivileges = v === '' || v === 'true';
    else if (k === 'seccomp') {
      if (v === 'unconfined') seccomp = 'unconfined';
      else {
        try { seccomp = JSON.parse(v) as object; } catch { throw new InvalidInput('HostConfig.SecurityOpt', `seccomp=${v.slice(0, 40)}: expected "unconfined" or a JSON profile`); }
      }
    } else if (k === 'label' || k === 'apparmor') { /* no LSM on this engine: accepted, as docker does when it is disabled */ }
    else throw new InvalidInput('HostConfig.SecurityOpt', `invalid --security-opt: "${o}"`);
  }
  return { noNewPrivileges, seccomp };
}

export function ociSpec(i: SpecInput): Record<string, unknown> {
  const { config: c, host: h } = i;
  const args = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  if (args.length === 0) throw new DockerWords('Cmd', 'No command specified');
  const user = resolveUser(i.rootfs, c.User ?? '');
  const groups = h.GroupAdd?.length ? readRootFile(i.rootfs, 'etc/group') : [];
  for (const g of h.GroupAdd ?? []) { // --group-add
    const gid = groupId(groups, g, 'HostConfig.GroupAdd');
    if (!user.additionalGids.includes(gid)) user.additionalGids.push(gid);
  }
  const caps = capabilities(h);
  const sec = securityOptions(h);
  const env = [...(c.Env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(PATH_ENV);
  if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${c.Hostname}`);
  if (c.Tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  const rlimits = (h.Ulimits ?? []).map((u) => {
    const type = ULIMIT_NAMES[u.Name];
    if (!type) throw new InvalidInput('HostConfig.Ulimits', `invalid ulimit type: ${u.Name}`);
    return { type, soft: u.Soft, hard: u.Hard };
  });
  // limits not given are inherited from the daemon, as with docker

  const shm = h.ShmSize && h.ShmSize > 0 ? h.ShmSize : 64 * 1024 * 1024;
  const mounts: SpecMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', h.Privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', h.Privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm}`] },
  ];
  const userDest = new Set([...i.mounts.map((m) => m.destination), ...Object.keys(h.Tmpfs ?? {})]);
  for (const [dest, file] of [['/etc/resolv.conf', i.etcFiles.resolvConf], ['/etc/hostname', i.etcFiles.hostname], ['/etc/hosts', i.etcFiles.hosts]] as const) {
    if (!userDest.has(dest)) mounts.push({ destination: dest, type: 'bind', source: file, options: ['rbind', 'rprivate'] });
  }
  for (const [dest, opts] of Object.entries(h.Tmpfs ?? {})) mounts.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options: tmpfsOptions(opts) });
  mounts.push(...i.mounts);
  if (i.initPath) mounts.push({ destination: INIT_TARGET, type: 'bind', source: i.initPath, options: ['bind', 'ro'] });

  // a "host" mode shares the host's namespace: the container gets none of its own
  const net = h.NetworkMode ?? 'none';
  const shared = { network: net === 'host', uts: net === 'host' || h.UTSMode === 'host', ipc: h.IpcMode === 'host', pid: h.PidMode === 'host', cgroup: h.CgroupnsMode === 'host' };
  const nsFile = { network: 'net', ipc: 'ipc', pid: 'pid' } as const;
  const namespaces = (['mount', 'uts', 'ipc', 'pid', 'cgroup', 'network'] as const).filter((t) => t === 'mount' || !shared[t]).map((type) => {
    const pid = i.joined?.[type as keyof typeof nsFile];
    return pid ? { type, path: `/proc/${pid}/ns/${nsFile[type as keyof typeof nsFile]}` } : { type };
  });

  const devices = (h.Devices ?? []).map(parseDevice);
  const memory: Record<string, number | boolean> = {};
  if (bytes(h.Memory)) memory.limit = h.Memory!;
  if (h.MemorySwap && h.MemorySwap !== 0) memory.swap = h.MemorySwap; // -1: unlimited
  else if (bytes(h.Memory)) memory.swap = h.Memory! * 2;
  if (bytes(h.MemoryReservation)) memory.reservation = h.MemoryReservation!;
  if (h.OomKillDisable) memory.disableOOMKiller = true;
  if (typeof h.MemorySwappiness === 'number' && h.MemorySwappiness >= 0) memory.swappiness = h.MemorySwappiness;
  if (bytes(h.KernelMemoryTCP)) memory.kernelTCP = h.KernelMemoryTCP!;
  const cpu: Record<string, unknown> = {};
  if (h.NanoCpus) { cpu.period = 100000; cpu.quota = Math.round(h.NanoCpus / 1e4); }
  if (h.CpuQuota) cpu.quota = h.CpuQuota;
  if (h.CpuPeriod) cpu.period = h.CpuPeriod;
  if (h.CpuShares) cpu.shares = h.CpuShares;
  if (h.CpusetCpus) cpu.cpus = h.CpusetCpus;
  if (h.CpusetMems) cpu.mems = h.CpusetMems;
  if (h.CpuRealtimePeriod) cpu.realtimePeriod = h.CpuRealtimePeriod;
  if (h.CpuRealtimeRuntime) cpu.realtimeRuntime = h.CpuRealtimeRuntime;
  const resources: Record<string, unknown> = {
    devices: h.Privileged ? [{ allow: true, access: 'rwm' }] : [{ allow: false, access: 'rwm' }, ...devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access })), ...(h.DeviceCgroupRules ?? []).map(deviceRule)],
  };
  if (Object.keys(memory).length) resources.memory = memory;
  if (Object.keys(cpu).length) resources.cpu = cpu;
  if (h.PidsLimit && h.PidsLimit > 0) resources.pids = { limit: h.PidsLimit };
  if (h.BlkioWeight) resources.blockIO = { weight: h.BlkioWeight };

  let seccomp: unknown;
  if (sec.seccomp === 'default') seccomp = defaultSeccomp(caps);
  else if (sec.seccomp !== 'unconfined') seccomp = sec.seccomp;

  const linux: Record<string, unknown> = {
    namespaces, resources,
    cgroupsPath: `${h.CgroupParent ? `/${h.CgroupParent.replace(/^\/+|\/+$/g, '')}` : i.cgroupParent ?? '/berth'}/${i.id}`,
    devices: devices.map((d) => ({ path: d.path, type: d.type, major: d.major, minor: d.minor, fileMode: 0o666, uid: 0, gid: 0 })),
    sysctl: h.Sysctls ?? {},
    maskedPaths: h.Privileged ? [] : [...(h.MaskedPaths ?? DEFAULT_MASKED_PATHS)],
    readonlyPaths: h.Privileged ? [] : [...(h.ReadonlyPaths ?? DEFAULT_READONLY_PATHS)],
  };
  if (seccomp) linux.seccomp = seccomp;
  const hostname = shared.uts ? undefined : c.Hostname;
  return {
    ociVersion: '1.2.0',
    process: {
      terminal: !!c.Tty,
      user,
      args: h.Init ? [INIT_TARGET, '--', ...args] : args,
      env,
      cwd: c.WorkingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits,
      noNewPrivileges: sec.noNewPrivileges,
      oomScoreAdj: h.OomScoreAdj || undefined,
    },
    root: { path: i.rootfs, readonly: !!h.ReadonlyRootfs },
    ...(hostname ? { hostname } : {}),
    ...(c.Domainname ? { domainname: c.Domainname } : {}),
    mounts,
    linux,
    annotations: { ...Object.fromEntries(Object.entries(c.Labels ?? {}).map(([k, v]) => [`org.berth.label.${k}`, v])), ...(h.Annotations ?? {}) },
  };
}
