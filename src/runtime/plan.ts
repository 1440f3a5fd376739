// Turns a validated OCI config into the plan that native/executor carries out
// verbatim: three lists of operations (before clone, the parent after clone,
// the container's init). Building a plan touches nothing, so tests can read
// and compare plans without root.
import { statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { InvalidInput } from '../util/check.js';
import { capMask } from './caps.js';
import type { CgroupJoin, CgroupPlan } from './cgroups/index.js';
import type { Config, Hook, Mount, Process } from './config.js';
import { compileSeccomp, type CompiledSeccomp } from './seccomp/bpf.js';
import type { SeccompConfig } from './seccomp/config.js';

// Opcodes shared with native/executor/plan.h (test/plan.test.ts keeps them equal).
export const OPCODES = {
  setns: 1, unshare: 2, write: 3, writeChild: 4, joinCgroup: 5, sync: 6, wait: 7, ack: 8, notify: 9,
  reportPid: 10, supervise: 11, hook: 12, mount: 20, mknod: 21, symlink: 22, mkdir: 23, pivotRoot: 24,
  chroot: 25, mask: 26, readonly: 27, openRoot: 28, sethostname: 30, setdomainname: 31, rlimit: 33,
  openFifo: 34, waitFifo: 35, connectConsole: 36, console: 37, setsid: 38, becomeRoot: 39, chdir: 40,
  user: 41, umask: 42, capBounding: 43, caps: 44, noNewPrivs: 45, seccomp: 46, closeFds: 47, exec: 48,
  checkExec: 49, mkfifo: 50, deviceFilter: 51, recvConsole: 52, connectSeccompListener: 53, loopbackUp: 54,
  cloneIntoCgroup: 55, reportNs: 56,
} as const;

export type Op =
  | { op: 'setns'; path: string; nstype: number }
  | { op: 'unshare'; flags: number }
  | { op: 'write'; path: string; data: string }
  | { op: 'writeChild'; name: string; data: string }
  | { op: 'joinCgroup'; tasks: string }
  | { op: 'cloneIntoCgroup'; dir: string }
  | { op: 'sync' | 'wait' | 'notify'; tag: string }
  | { op: 'ack' | 'reportPid' | 'reportNs' | 'supervise' | 'pivotRoot' | 'chroot' | 'waitFifo' | 'setsid' | 'becomeRoot' | 'noNewPrivs' | 'recvConsole' | 'loopbackUp' }
  | { op: 'console'; bindConsole: boolean; toParent: boolean }
  | { op: 'hook'; path: string; timeout: number; args: string[]; env: string[]; statePrefix: string; stateSuffix: string }
  | { op: 'mount'; source: string; target: string; fstype: string; flags: number; data: string; create: 0 | 1 | 2; inRoot: boolean }
  | { op: 'mknod'; path: string; type: 'c' | 'b' | 'p'; major: number; minor: number; mode: number; uid: number; gid: number }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'mask' | 'readonly'; path: string }
  | { op: 'openRoot'; path: string }
  | { op: 'sethostname' | 'setdomainname'; name: string }
  | { op: 'rlimit'; resource: number; soft: bigint; hard: bigint; name: string }
  | { op: 'deviceFilter'; dir: string; program: Buffer }
  | { op: 'openFifo'; path: string }
  | { op: 'mkfifo'; path: string; mode: number }
  | { op: 'connectConsole'; path: string }
  | { op: 'chdir'; path: string }
  | { op: 'user'; uid: number; gid: number; groups: number[] }
  | { op: 'umask'; mask: number }
  | { op: 'capBounding'; keep: bigint }
  | { op: 'caps'; effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint }
  | { op: 'seccomp'; flags: number; program: Buffer; listenerState: string }
  | { op: 'connectSeccompListener'; path: string }
  | { op: 'closeFds'; first: number }
  | { op: 'exec' ; file: string; args: string[]; env: string[] }
  | { op: 'checkExec'; file: string; path: string };

export interface Plan { cloneFlags: number; pre: Op[]; parent: Op[]; child: Op[] }

// <linux/sched.h>
export const CLONE = {
  NEWNS: 0x00020000, NEWCGROUP: 0x02000000, NEWUTS: 0x04000000, NEWIPC: 0x08000000, NEWUSER: 0x10000000,
  NEWPID: 0x20000000, NEWNET: 0x40000000, NEWTIME: 0x00000080,
} as const;
const NS_FLAG: Record<string, number> = {
  mount: CLONE.NEWNS, cgroup: CLONE.NEWCGROUP, uts: CLONE.NEWUTS, ipc: CLONE.NEWIPC, user: CLONE.NEWUSER,
  pid: CLONE.NEWPID, network: CLONE.NEWNET, time: CLONE.NEWTIME,
};

// <sys/mount.h>
export const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, SYNCHRONOUS: 16, REMOUNT: 32, MANDLOCK: 64, DIRSYNC: 128,
  NOSYMFOLLOW: 256, NOATIME: 1024, NODIRATIME: 2048, BIND: 4096, MOVE: 8192, REC: 16384, SILENT: 32768,
  UNBINDABLE: 1 << 17, PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20, RELATIME: 1 << 21,
  IVERSION: 1 << 23, STRICTATIME: 1 << 24, LAZYTIME: 1 << 25,
} as const;

// option -> [clear?, flag]
const MOUNT_FLAGS: Record<string, [boolean, number]> = {
  ro: [false, MS.RDONLY], rw: [true, MS.RDONLY], nosuid: [false, MS.NOSUID], suid: [true, MS.NOSUID],
  nodev: [false, MS.NODEV], dev: [true, MS.NODEV], noexec: [false, MS.NOEXEC], exec: [true, MS.NOEXEC],
  sync: [false, MS.SYNCHRONOUS], async: [true, MS.SYNCHRONOUS], dirsync: [false, MS.DIRSYNC],
  remount: [false, MS.REMOUNT], mand: [false, MS.MANDLOCK], nomand: [true, MS.MANDLOCK],
  noatime: [false, MS.NOATIME], atime: [true, MS.NOATIME], nodiratime: [false, MS.NODIRATIME], diratime: [true, MS.NODIRATIME],
  bind: [false, MS.BIND], rbind: [false, MS.BIND | MS.REC], relatime: [false, MS.RELATIME], norelatime: [true, MS.RELATIME],
  strictatime: [false, MS.STRICTATIME], nostrictatime: [true, MS.STRICTATIME], lazytime: [false, MS.LAZYTIME],
  nolazytime: [true, MS.LAZYTIME], silent: [false, MS.SILENT], loud: [true, MS.SILENT], iversion: [false, MS.IVERSION],
  noiversion: [true, MS.IVERSION], nosymfollow: [false, MS.NOSYMFOLLOW], symfollow: [true, MS.NOSYMFOLLOW],
};
const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC, shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC, unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
};
// flags that mean something on a bind's remount
const REMOUNT_MASK = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NOATIME | MS.NODIRATIME | MS.RELATIME | MS.STRICTATIME | MS.NOSYMFOLLOW;

export interface ParsedMountOptions { flags: number; propagation: number[]; data: string[]; bind: boolean; ignored: string[] }

export function parseMountOptions(m: Mount, field: string): ParsedMountOptions {
  let flags = 0;
  const propagation: number[] = [], data: string[] = [];
  m.options.forEach((o, i) => {
    if (o in MOUNT_FLAGS) {
      const [clear, f] = MOUNT_FLAGS[o];
      flags = clear ? flags & ~f : flags | f;
    } else if (o in PROPAGATION) propagation.push(PROPAGATION[o]);
    else if (o === 'tmpcopyup' || o === 'idmap' || o === 'ridmap' || o === 'copy-symlink') {
      throw new InvalidInput(`${field}.options[${i}]`, `option ${o} is not supported by berth`);
    } else data.push(o);
  });
  const bind = m.type === 'bind' || (flags & MS.BIND) !== 0;
  // a bind mount has no filesystem data: what is not a flag (mode=755, size=...) is ignored there, as runc ignores it, and named
  return { flags: bind ? flags | MS.BIND : flags, propagation, data: bind ? [] : data, bind, ignored: bind ? data : [] };
}

export const DEFAULT_DEVICES = [
  { path: '/dev/null', major: 1, minor: 3 }, { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/full', major: 1, minor: 7 }, { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/urandom', major: 1, minor: 9 }, { path: '/dev/tty', major: 5, minor: 0 },
];

export interface PlanContext {
  id: string;
  /** where the plan names what it let pass (mount options that do not apply) */
  warn?: (msg: string) => void;
  bundle: string;
  /** Absolute host path of the root filesystem. */
  rootfs: string;
  /** Where exec.fifo lives; absent for `run` that starts at once. */
  fifo?: string;
  cgroup: CgroupPlan;
  /** cgroup hierarchies to show at /sys/fs/cgroup: [name in the container, host dir]. */
  cgroupMounts: [string, string][];
  consoleSocket?: string;
  preserveFds: number;
  noPivot: boolean;
  /** The executor stays and supervises the container (run without -d). */
  supervise: boolean;
  /** Report "ns PID" as soon as the child's namespaces exist, so that the engine sets up its network while the executor mounts. */
  reportNs?: boolean;
}

const PID_MARK = -7777777777; // replaced by the real pid in the executor

function hookOps(hooks: Hook[], stateOf: (pid: number) => string): Op[] {
  return hooks.map((h) => {
    const [statePrefix, stateSuffix] = stateOf(PID_MARK).split(String(PID_MARK));
    return { op: 'hook', path: h.path, timeout: h.timeout ?? 30, args: h.args.length ? h.args : [h.path], env: h.env, statePrefix, stateSuffix };
  });
}

/** The state JSON given to hooks, with the pid filled in by the executor. */
export function hookState(config: Config, ctx: PlanContext, status: string): (pid: number) => string {
  return (pid) => JSON.stringify({ ociVersion: '1.2.0', id: ctx.id, status, pid, bundle: ctx.bundle, annotations: config.annotations });
}

const SYSCTL_NS: [RegExp, string][] = [
  [/^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$/, 'ipc'],
  [/^fs\.mqueue\./, 'ipc'],
  [/^net\./, 'network'],
  [/^kernel\.(hostname|domainname)$/, 'uts'],
];

/**
 * What the seccomp agent at listenerPath receives with the listener fd (OCI
 * "container process state"); the executor puts the pid where PID_MARK is.
 * Empty when no listener is wanted.
 */
function listenerState(config: Config, ctx: Pick<PlanContext, 'id' | 'bundle'>, status: string): string {
  const sc = config.linux.seccomp;
  if (!sc?.listenerPath) return '';
  return JSON.stringify({
    ociVersion: '1.2.0', fds: ['seccompFd'], pid: PID_MARK, metadata: sc.listenerMetadata ?? '',
    state: { ociVersion: '1.2.0', id: ctx.id, status, pid: PID_MARK, bundle: ctx.bundle, annotations: config.annotations },
  });
}

/** The seccomp agent's socket is reached from the runtime's side, before the container's root. */
function listenerConnect(config: Config): Op[] {
  const path = config.linux.seccomp?.listenerPath;
  return path ? [{ op: 'connectSeccompListener', path }] : [];
}

/**
 * Compiled filters by profile: a daemon compiles the same profile for every
 * start and exec of a container (about a millisecond each). The program is
 * only read afterwards, so one Buffer serves them all.
 */
const compiled = new Map<string, CompiledSeccomp>();
function seccompFor(cfg: SeccompConfig): CompiledSeccomp {
  const key = JSON.stringify(cfg, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)); // argument values are BigInts
  let c = compiled.get(key);
  if (!c) {
    c = compileSeccomp(cfg);
    if (compiled.size >= 32) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, c);
  }
  return c;
}

function processOps(config: Config, proc: Process, ctx: PlanContext, userns: boolean, status: string): { setup: Op[]; final: Op[] } {
  const setup: Op[] = [];
  for (const r of proc.rlimits) setup.push({ op: 'rlimit', resource: r.resource, soft: r.soft, hard: r.hard, name: r.type });
  const caps = proc.capabilities;
  const seccomp = config.linux.seccomp ? seccompFor(config.linux.seccomp) : undefined;
  const seccompOp: Op | undefined = seccomp && { op: 'seccomp', flags: seccomp.flags, program: seccomp.program, listenerState: listenerState(config, ctx, status) };
  const final: Op[] = [];
  // Without no_new_privs the filter needs CAP_SYS_ADMIN: load it before the
  // capabilities go. With it, load it last, so the runtime's own remaining
  // syscalls are not subject to it (as runc does).
  if (seccompOp && !proc.noNewPrivileges) setup.push(seccompOp);
  setup.push({ op: 'closeFds', first: 3 + ctx.preserveFds });
  if (caps) setup.push({ op: 'capBounding', keep: capMask(caps.bounding) });
  setup.push({ op: 'user', uid: proc.user.uid, gid: proc.user.gid, groups: proc.user.additionalGids });
  setup.push({ op: 'umask', mask: proc.user.umask ?? 0o022 });
  setup.push({ op: 'chdir', path: proc.cwd });
  if (caps) {
    setup.push({ op: 'caps', effective: capMask(caps.effective), permitted: capMask(caps.permitted), inheritable: capMask(caps.inheritable), ambient: capMask(caps.ambient) });
  } else if (proc.user.uid !== 0 || userns) {
    // no capabilities object: the process keeps none
    setup.push({ op: 'caps', effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n });
  }
  if (proc.noNewPrivileges) setup.push({ op: 'noNewPrivs' });
  const pathEnv = proc.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
  setup.push({ op: 'checkExec', file: proc.args[0], path: pathEnv });
  if (seccompOp && proc.noNewPrivileges) final.push(seccompOp);
  final.push({ op: 'exec', file: proc.args[0], args: proc.args, env: proc.env });
  return { setup, final };
}

/** The child enters its cgroups first thing, so all it does is accounted there (see CgroupJoin). */
function enterCgroups(j: CgroupJoin, pre: Op[], child: Op[]): void {
  if (j.v2Dir) pre.push({ op: 'cloneIntoCgroup', dir: j.v2Dir });
  for (const tasks of j.tasks) child.push({ op: 'joinCgroup', tasks });
}

/** Builds the plan that creates the container's init. */
export function buildCreatePlan(config: Config, ctx: PlanContext): Plan {
  const proc = config.process;
  if (!proc) throw new InvalidInput('process', 'is required to create a container');
  const L = config.linux;
  const ns = new Map(L.namespaces.map((n) => [n.type, n]));
  const userns = ns.has('user');
  let cloneFlags = 0;
  const pre: Op[] = [], parent: Op[] = [], child: Op[] = [];

  // pid and time namespaces take effect for children: settled before clone
  for (const t of ['pid', 'time'] as const) {
    const n = ns.get(t);
    if (n?.path) pre.push({ op: 'setns', path: n.path, nstype: NS_FLAG[t] });
  }
  const time = ns.get('time');
  if (time && !time.path) {
    pre.push({ op: 'unshare', flags: CLONE.NEWTIME });
    const offs = Object.entries(L.timeOffsets).map(([clock, o]) => `${clock} ${o.secs} ${o.nanosecs}`);
    if (offs.length) pre.push({ op: 'write', path: '/proc/self/timens_offsets', data: offs.join('\n') });
  }
  for (const [t, n] of ns) {
    if (!n.path && t !== 'time' && t !== 'cgroup') cloneFlags |= NS_FLAG[t];
  }
  if (ctx.fifo) pre.push({ op: 'mkfifo', path: ctx.fifo, mode: 0o622 });
  if (ctx.consoleSocket && proc.terminal) pre.push({ op: 'connectConsole', path: ctx.consoleSocket });
  pre.push(...listenerConnect(config));
  enterCgroups(ctx.cgroup.join, pre, child);

  // parent: user namespace maps, then release the child
  child.push({ op: 'sync', tag: 'init' });
  parent.push({ op: 'wait', tag: 'init' });
  if (userns && !ns.get('user')!.path) {
    const map = (m: typeof L.uidMappings) => m.map((x) => `${x.containerID} ${x.hostID} ${x.size}`).join('\n');
    parent.push({ op: 'writeChild', name: 'uid_map', data: map(L.uidMappings) });
    parent.push({ op: 'writeChild', name: 'gid_map', data: map(L.gidMappings) });
  }
  if (proc.oomScoreAdj !== undefined) parent.push({ op: 'writeChild', name: 'oom_score_adj', data: String(proc.oomScoreAdj) });
  if (ctx.cgroup.deviceFilter) parent.push({ op: 'deviceFilter', ...ctx.cgroup.deviceFilter });
  parent.push({ op: 'ack' });
  if (ctx.reportNs && ns.has('network') && !ns.get('network')!.path) parent.push({ op: 'reportNs' });

  // child: namespaces
  if (userns && !ns.get('user')!.path) child.push({ op: 'becomeRoot' });
  const joinOrder = ['user', 'ipc', 'uts', 'network', 'cgroup', 'mount'] as const;
  for (const t of joinOrder) {
    const n = ns.get(t);
    if (n?.path) child.push({ op: 'setns', path: n.path, nstype: NS_FLAG[t] });
  }
  if (ns.has('cgroup') && !ns.get('cgroup')!.path) child.push({ op: 'unshare', flags: CLONE.NEWCGROUP });
  child.push({ op: 'setsid' });

  // child: root filesystem
  child.push({ op: 'mount', source: '', target: '/', fstype: '', flags: MS.SLAVE | MS.REC, data: '', create: 0, inRoot: false });
  child.push({ op: 'mount', source: ctx.rootfs, target: ctx.rootfs, fstype: '', flags: MS.BIND | MS.REC, data: '', create: 0, inRoot: false });
  child.push({ op: 'openRoot', path: ctx.rootfs });
  if (ctx.fifo) child.push({ op: 'openFifo', path: ctx.fifo });
  const mounted = configMountOps(config, ctx);
  child.push(...mounted.ops);
  child.push(...deviceOps(L, mounted.devMounted));

  // a working directory the root does not have is made, as runc makes it (0755, before any user switch)
  if (proc.cwd !== '/') child.push({ op: 'mkdir', path: proc.cwd, mode: 0o755 });

  // hooks around pivot_root
  const hooksBefore = [...config.hooks.prestart, ...config.hooks.createRuntime];
  if (hooksBefore.length) {
    child.push({ op: 'sync', tag: 'mounts' });
    parent.push({ op: 'wait', tag: 'mounts' });
    parent.push(...hookOps(hooksBefore, hookState(config, ctx, 'creating')));
    parent.push({ op: 'ack' });
  }
  child.push(...hookOps(config.hooks.createContainer, hookState(config, ctx, 'creating')));
  child.push(ctx.noPivot ? { op: 'chroot' } : { op: 'pivotRoot' });
  if (config.linux.rootfsPropagation) {
    child.push({ op: 'mount', source: '', target: '/', fstype: '', flags: PROPAGATION[config.linux.rootfsPropagation], data: '', create: 0, inRoot: false });
  }
  // without a console socket the supervising executor holds the pty and proxies it
  const toParent = !!proc.terminal && !ctx.consoleSocket && ctx.supervise;
  if (proc.terminal) child.push({ op: 'console', bindConsole: true, toParent });
  // as runc does: a new network namespace gets its loopback up
  if (config.linux.namespaces.some((n) => n.type === 'network' && !n.path)) child.push({ op: 'loopbackUp' });
  if (config.hostname !== undefined) child.push({ op: 'sethostname', name: config.hostname });
  if (config.domainname !== undefined) child.push({ op: 'setdomainname', name: config.domainname });
  child.push(...sysctlOps(L, ns));

  // after the sysctls: /proc/sys is among the read-only paths
  for (const p of L.maskedPaths) child.push({ op: 'mask', path: p });
  for (const p of L.readonlyPaths) child.push({ op: 'readonly', path: p });
  if (config.root.readonly) child.push({ op: 'mount', source: '', target: '/', fstype: '', flags: MS.BIND | MS.REMOUNT | MS.RDONLY, data: '', create: 0, inRoot: false });

  // child: the process
  const { setup, final } = processOps(config, proc, ctx, userns, 'creating');
  child.push(...setup);
  child.push({ op: 'notify', tag: 'ready' });
  if (toParent) parent.push({ op: 'recvConsole' });
  parent.push({ op: 'wait', tag: 'ready' });
  parent.push({ op: 'reportPid' });
  if (ctx.supervise) parent.push({ op: 'supervise' });
  if (ctx.fifo) child.push({ op: 'waitFifo' });
  child.push(...hookOps(config.hooks.startContainer, hookState(config, ctx, 'running')));
  child.push(...final);
  return { cloneFlags, pre, parent, child };
}

/** The config's mounts, in order, in the container's root; whether one of them is /dev. */
function configMountOps(config: Config, ctx: PlanContext): { ops: Op[]; devMounted: boolean } {
  const ops: Op[] = [];
  let devMounted = false;
  config.mounts.forEach((m, i) => {
    const field = `mounts[${i}]`;
    const o = parseMountOptions(m, field);
    if (o.ignored.length) ctx.warn?.(`${field}.options: ${o.ignored.join(', ')} ignored for the bind mount at ${m.destination} (not a bind's option)`);
    if (m.destination === '/dev') devMounted = true;
    if (m.type === 'cgroup' || m.type === 'cgroup2') {
      ops.push(...cgroupMountOps(m, o, ctx));
      return;
    }
    if (o.bind) {
      if (!m.source) throw new InvalidInput(`${field}.source`, 'a bind mount needs a source');
      const src = isAbsolute(m.source) ? m.source : resolve(ctx.bundle, m.source);
      let isDir: boolean;
      try { isDir = statSync(src).isDirectory(); } catch { throw new InvalidInput(`${field}.source`, `${src} does not exist`); }
      ops.push({ op: 'mount', source: src, target: m.destination, fstype: '', flags: o.flags & (MS.BIND | MS.REC), data: '', create: isDir ? 1 : 2, inRoot: true });
      const extra = o.flags & REMOUNT_MASK;
      if (extra) ops.push({ op: 'mount', source: '', target: m.destination, fstype: '', flags: MS.BIND | MS.REMOUNT | extra, data: '', create: 0, inRoot: true });
    } else {
      if (!m.type) throw new InvalidInput(`${field}.type`, 'is required for a mount that is not a bind');
      ops.push({ op: 'mount', source: m.source || m.type, target: m.destination, fstype: m.type, flags: o.flags, data: o.data.join(','), create: 1, inRoot: true });
    }
    for (const p of o.propagation) ops.push({ op: 'mount', source: '', target: m.destination, fstype: '', flags: p, data: '', create: 0, inRoot: true });
  });

  return { ops, devMounted };
}

/** The default devices and the config's (which replace a default at its path), made in the root; /dev's links when the config mounts a /dev. */
function deviceOps(L: Config['linux'], devMounted: boolean): Op[] {
  const ops: Op[] = [];
  const devs = [...DEFAULT_DEVICES.map((d) => ({ path: d.path, type: 'c' as const, major: d.major, minor: d.minor, fileMode: 0o666, uid: 0, gid: 0 })),
    ...L.devices.map((d) => ({ ...d, type: d.type === 'u' ? 'c' as const : d.type, fileMode: d.fileMode ?? 0o666, uid: d.uid ?? 0, gid: d.gid ?? 0 }))];
  const byPath = new Map(devs.map((d) => [d.path, d])); // a config device replaces a default one
  for (const d of byPath.values()) {
    ops.push({ op: 'mknod', path: d.path, type: d.type, major: d.major, minor: d.minor, mode: d.fileMode, uid: d.uid, gid: d.gid });
  }
  if (devMounted) {
    for (const [target, path] of [['/proc/self/fd', '/dev/fd'], ['/proc/self/fd/0', '/dev/stdin'], ['/proc/self/fd/1', '/dev/stdout'], ['/proc/self/fd/2', '/dev/stderr'], ['pts/ptmx', '/dev/ptmx']]) {
      ops.push({ op: 'symlink', target, path });
    }
  }

  return ops;
}

/** The config's sysctls as writes under /proc/sys: only namespaced ones, and only with their namespace. */
function sysctlOps(L: Config['linux'], ns: Map<string, unknown>): Op[] {
  const ops: Op[] = [];
  for (const [k, v] of Object.entries(L.sysctl)) {
    if (k.includes('/') || k.split('.').includes('..')) throw new InvalidInput(`linux.sysctl.${k}`, 'not a sysctl name');
    const need = SYSCTL_NS.find(([re]) => re.test(k))?.[1];
    if (!need) throw new InvalidInput(`linux.sysctl.${k}`, 'not namespaced: it would change the host');
    if (!ns.has(need as never)) throw new InvalidInput(`linux.sysctl.${k}`, `needs a ${need} namespace`);
    ops.push({ op: 'write', path: `/proc/sys/${k.replace(/\./g, '/')}`, data: v });
  }

  return ops;
}

function cgroupMountOps(m: Mount, o: ParsedMountOptions, ctx: PlanContext): Op[] {
  // The container sees its own cgroups: a tmpfs with one bind per hierarchy
  // (v1 or hybrid), or the one v2 directory bound at the destination.
  const ro = o.flags & REMOUNT_MASK;
  const ops: Op[] = [];
  const bind = (src: string, dst: string) => {
    ops.push({ op: 'mount', source: src, target: dst, fstype: '', flags: MS.BIND | MS.REC, data: '', create: 1, inRoot: true });
    if (ro) ops.push({ op: 'mount', source: '', target: dst, fstype: '', flags: MS.BIND | MS.REMOUNT | ro, data: '', create: 0, inRoot: true });
  };
  if (ctx.cgroupMounts.length === 1 && ctx.cgroupMounts[0][0] === '') {
    bind(ctx.cgroupMounts[0][1], m.destination);
    return ops;
  }
  ops.push({ op: 'mount', source: 'tmpfs', target: m.destination, fstype: 'tmpfs', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, data: 'mode=755', create: 1, inRoot: true });
  for (const [name, dir] of ctx.cgroupMounts) bind(dir, join(m.destination, name));
  if (ro) ops.push({ op: 'mount', source: '', target: m.destination, fstype: '', flags: MS.REMOUNT | MS.BIND | ro, data: '', create: 0, inRoot: true });
  return ops;
}

// --- wire encoding (native/executor/plan.h) ---------------------------------

type Arg = string | number | bigint | Buffer;

function args(op: Op): Arg[] {
  switch (op.op) {
    case 'setns': return [op.path, op.nstype];
    case 'unshare': return [op.flags];
    case 'write': return [op.path, op.data];
    case 'writeChild': return [op.name, op.data];
    case 'joinCgroup': return [op.tasks];
    case 'cloneIntoCgroup': return [op.dir];
    case 'sync': case 'wait': case 'notify': return [op.tag];
    case 'hook': return [op.path, op.timeout, op.args.length, ...op.args, op.env.length, ...op.env, op.statePrefix, op.stateSuffix];
    case 'mount': return [op.source, op.target, op.fstype, op.flags, op.data, op.create, op.inRoot ? 1 : 0];
    case 'mknod': return [op.path, op.type, op.major, op.minor, op.mode, op.uid, op.gid];
    case 'symlink': return [op.target, op.path];
    case 'mkdir': case 'mkfifo': return [op.path, op.mode];
    case 'console': return [op.bindConsole ? 1 : 0, op.toParent ? 1 : 0];
    case 'mask': case 'readonly': case 'openRoot': case 'openFifo': case 'connectConsole': case 'chdir': return [op.path];
    case 'sethostname': case 'setdomainname': return [op.name];
    case 'rlimit': return [op.resource, op.soft, op.hard, op.name];
    case 'deviceFilter': return [op.dir, op.program];
    case 'user': return [op.uid, op.gid, op.groups.length, ...op.groups];
    case 'umask': return [op.mask];
    case 'capBounding': return [op.keep];
    case 'caps': return [op.effective, op.permitted, op.inheritable, op.ambient];
    case 'seccomp': return [op.flags, op.program, op.listenerState];
    case 'connectSeccompListener': return [op.path];
    case 'closeFds': return [op.first];
    case 'exec': return [op.file, op.args.length, ...op.args, op.env.length, ...op.env];
    case 'checkExec': return [op.file, op.path];
    default: return [];
  }
}

/** Serialises a plan into the executor's wire format. */
export function encodePlan(plan: Plan): Buffer {
  // one pass to encode the arguments and size the plan, one to write it
  const sections = [plan.pre, plan.parent, plan.child].map((section) => section.map((op) => {
    const argv = args(op).map((v) => {
      if (typeof v === 'string' && v.includes('\0')) throw new InvalidInput(op.op, `argument contains NUL: ${JSON.stringify(v)}`);
      return Buffer.isBuffer(v) ? v : Buffer.from(String(v));
    });
    return { code: OPCODES[op.op], argv };
  }));
  let size = 8 + 12;
  for (const ops of sections) {
    size += 4;
    for (const op of ops) { size += 4; for (const a of op.argv) size += 4 + a.length; }
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.write('BRTHPLAN', 0, 'latin1');
  at = out.writeUInt32LE(1, at);
  at = out.writeUInt32LE((plan.cloneFlags & 0xffffffff) >>> 0, at);
  at = out.writeUInt32LE(0, at);
  for (const ops of sections) {
    at = out.writeUInt32LE(ops.length, at);
    for (const op of ops) {
      at = out.writeUInt16LE(op.code, at);
      at = out.writeUInt16LE(op.argv.length, at);
      for (const a of op.argv) { at = out.writeUInt32LE(a.length, at); at += a.copy(out, at); }
    }
  }
  return out;
}

export interface ExecContext {
  id: string;
  bundle: string;
  /** The container init's pid: its namespaces are joined. */
  pid: number;
  cgroupJoin: CgroupJoin;
  consoleSocket?: string;
  preserveFds: number;
  supervise: boolean;
}

/** Builds the plan that starts another process inside a running container. */
export function buildExecPlan(config: Config, proc: Process, ctx: ExecContext): Plan {
  const pre: Op[] = [], parent: Op[] = [], child: Op[] = [];
  const nsFile: Record<string, string> = { pid: 'pid', time: 'time', user: 'user', ipc: 'ipc', uts: 'uts', network: 'net', cgroup: 'cgroup', mount: 'mnt' };
  const types = new Set(config.linux.namespaces.map((n) => n.type));
  for (const t of ['pid', 'time'] as const) {
    if (types.has(t)) pre.push({ op: 'setns', path: `/proc/${ctx.pid}/ns/${nsFile[t]}`, nstype: NS_FLAG[t] });
  }
  if (ctx.consoleSocket && proc.terminal) pre.push({ op: 'connectConsole', path: ctx.consoleSocket });
  pre.push(...listenerConnect(config));
  enterCgroups(ctx.cgroupJoin, pre, child);
  child.push({ op: 'sync', tag: 'init' });
  parent.push({ op: 'wait', tag: 'init' });
  if (proc.oomScoreAdj !== undefined) parent.push({ op: 'writeChild', name: 'oom_score_adj', data: String(proc.oomScoreAdj) });
  parent.push({ op: 'ack' });
  for (const t of ['user', 'ipc', 'uts', 'network', 'cgroup', 'mount'] as const) {
    if (types.has(t)) child.push({ op: 'setns', path: `/proc/${ctx.pid}/ns/${nsFile[t]}`, nstype: NS_FLAG[t] });
  }
  child.push({ op: 'setsid' });
  const toParent = !!proc.terminal && !ctx.consoleSocket && ctx.supervise;
  if (proc.terminal) child.push({ op: 'console', bindConsole: false, toParent });
  const pctx = { preserveFds: ctx.preserveFds, id: ctx.id, bundle: ctx.bundle } as PlanContext;
  const { setup, final } = processOps(config, proc, pctx, types.has('user'), 'running');
  child.push(...setup);
  child.push({ op: 'notify', tag: 'ready' });
  if (toParent) parent.push({ op: 'recvConsole' });
  parent.push({ op: 'wait', tag: 'ready' });
  parent.push({ op: 'reportPid' });
  if (ctx.supervise) parent.push({ op: 'supervise' });
  child.push(...final);
  return { cloneFlags: 0, pre, parent, child };
}
