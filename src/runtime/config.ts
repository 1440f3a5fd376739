// The OCI runtime config (config.json, runtime-spec 1.2): parsed into typed
// values and checked field by field. Anything berth would have to guess about
// is an error that names the field.
import { Field, InvalidInput } from '../util/check.js';
import { capabilityNumber } from './caps.js';
import { rlimitNumber } from './rlimits.js';
import { parseSeccomp, type SeccompConfig } from './seccomp/config.js';

export const NAMESPACE_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

export interface Namespace { type: NamespaceType; path?: string }
export interface IdMapping { containerID: number; hostID: number; size: number }
export interface Mount { destination: string; type: string; source: string; options: string[] }
export interface Rlimit { type: string; resource: number; soft: bigint; hard: bigint }
export interface CapSets { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] }
export interface User { uid: number; gid: number; umask?: number; additionalGids: number[] }
export interface Process {
  terminal: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: CapSets;
  rlimits: Rlimit[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
  apparmorProfile?: string;
  selinuxLabel?: string;
}
export interface Hook { path: string; args: string[]; env: string[]; timeout?: number }
export interface Hooks {
  prestart: Hook[]; createRuntime: Hook[]; createContainer: Hook[];
  startContainer: Hook[]; poststart: Hook[]; poststop: Hook[];
}
export interface Device { path: string; type: 'c' | 'b' | 'u' | 'p'; major: number; minor: number; fileMode?: number; uid?: number; gid?: number }
export interface DeviceRule { allow: boolean; type: 'a' | 'c' | 'b'; major: number | null; minor: number | null; access: string }
export interface WeightDevice { major: number; minor: number; weight?: number; leafWeight?: number }
export interface ThrottleDevice { major: number; minor: number; rate: bigint }
export interface Resources {
  devices: DeviceRule[];
  memory?: { limit?: bigint; reservation?: bigint; swap?: bigint; kernel?: bigint; swappiness?: number; disableOOMKiller?: boolean };
  cpu?: { shares?: number; quota?: number; burst?: number; period?: number; realtimeRuntime?: number; realtimePeriod?: number; cpus?: string; mems?: string; idle?: number };
  pids?: { limit: number };
  blockIO?: {
    weight?: number; leafWeight?: number; weightDevice: WeightDevice[];
    throttleReadBpsDevice: ThrottleDevice[]; throttleWriteBpsDevice: ThrottleDevice[];
    throttleReadIOPSDevice: ThrottleDevice[]; throttleWriteIOPSDevice: ThrottleDevice[];
  };
  hugepageLimits: { pageSize: string; limit: bigint }[];
  unified: Record<string, string>;
}
export interface Linux {
  namespaces: Namespace[];
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
  timeOffsets: Record<string, { secs: number; nanosecs: number }>;
  devices: Device[];
  cgroupsPath?: string;
  resources: Resources;
  rootfsPropagation?: string;
  maskedPaths: string[];
  readonlyPaths: string[];
  sysctl: Record<string, string>;
  seccomp?: SeccompConfig;
  mountLabel?: string;
  personality?: { domain: string };
}
export interface Config {
  ociVersion: string;
  root: { path: string; readonly: boolean };
  process?: Process;
  hostname?: string;
  domainname?: string;
  mounts: Mount[];
  hooks: Hooks;
  annotations: Record<string, string>;
  linux: Linux;
}

const TOP = ['ociVersion', 'root', 'process', 'hostname', 'domainname', 'mounts', 'hooks', 'annotations', 'linux', 'vm', 'windows', 'solaris', 'zos', 'uidMappings', 'gidMappings'];

function cleanPath(f: Field): string {
  const p = f.absPath();
  if (p.split('/').includes('..')) f.fail('must not contain ".."');
  return p;
}

function idMappings(f: Field): IdMapping[] {
  return f.optArray().map((m) => {
    m.keys(['containerID', 'hostID', 'size']);
    return { containerID: m.at('containerID').int(0, 2 ** 32 - 1), hostID: m.at('hostID').int(0, 2 ** 32 - 1), size: m.at('size').int(1, 2 ** 32) };
  });
}

function hookList(f: Field): Hook[] {
  return f.optArray().map((h) => {
    h.keys(['path', 'args', 'env', 'timeout']);
    return { path: h.at('path').absPath(), args: h.at('args').optStrings(), env: h.at('env').optStrings(), timeout: h.at('timeout').optInt(1) };
  });
}

function capSets(f: Field): CapSets | undefined {
  if (!f.present) return undefined;
  f.keys(['bounding', 'effective', 'permitted', 'inheritable', 'ambient']);
  const set = (k: string) => f.at(k).optArray().map((c) => {
    const name = c.string();
    if (capabilityNumber(name) === undefined) c.fail(`unknown capability ${JSON.stringify(name)}`);
    return name;
  });
  return { bounding: set('bounding'), effective: set('effective'), permitted: set('permitted'), inheritable: set('inheritable'), ambient: set('ambient') };
}

function parseProcess(f: Field): Process | undefined {
  if (!f.present) return undefined;
  f.keys(['terminal', 'consoleSize', 'user', 'args', 'commandLine', 'env', 'cwd', 'capabilities', 'rlimits', 'noNewPrivileges', 'apparmorProfile', 'oomScoreAdj', 'selinuxLabel', 'ioPriority', 'scheduler', 'execCPUAffinity']);
  const u = f.at('user');
  u.keys(['uid', 'gid', 'umask', 'additionalGids', 'username']);
  const args = f.at('args').strings();
  if (args.length === 0) f.at('args').fail('must name the program to run');
  if (args[0] === '') f.at('args[0]').fail('must not be empty');
  const env = f.at('env').optStrings();
  env.forEach((e, i) => { if (!e.includes('=')) f.at(`env[${i}]`).fail(`must be KEY=VALUE, got ${JSON.stringify(e)}`); });
  const cs = f.at('consoleSize');
  const rlimitsSeen = new Set<string>();
  return {
    terminal: f.at('terminal').optBool(),
    consoleSize: cs.present ? { height: cs.at('height').int(0), width: cs.at('width').int(0) } : undefined,
    user: {
      uid: u.at('uid').int(0, 2 ** 32 - 2),
      gid: u.at('gid').int(0, 2 ** 32 - 2),
      umask: u.at('umask').optInt(0, 0o777),
      additionalGids: u.at('additionalGids').optArray().map((g) => g.int(0, 2 ** 32 - 2)),
    },
    args,
    env,
    cwd: f.at('cwd').absPath(),
    capabilities: capSets(f.at('capabilities')),
    rlimits: f.at('rlimits').optArray().map((r) => {
      r.keys(['type', 'soft', 'hard']);
      const type = r.at('type').string();
      const resource = rlimitNumber(type) ?? r.at('type').fail(`unknown rlimit ${JSON.stringify(type)}`);
      if (rlimitsSeen.has(type)) r.at('type').fail(`duplicate rlimit ${type}`);
      rlimitsSeen.add(type);
      const soft = r.at('soft').uint64(), hard = r.at('hard').uint64();
      if (soft > hard) r.at('soft').fail(`soft limit ${soft} is above the hard limit ${hard}`);
      return { type, resource, soft, hard };
    }),
    noNewPrivileges: f.at('noNewPrivileges').optBool(),
    oomScoreAdj: f.at('oomScoreAdj').optInt(-1000, 1000),
    apparmorProfile: f.at('apparmorProfile').optString(),
    selinuxLabel: f.at('selinuxLabel').optString(),
  };
}

function throttle(f: Field): ThrottleDevice[] {
  return f.optArray().map((d) => ({ major: d.at('major').int(0), minor: d.at('minor').int(0), rate: d.at('rate').uint64() }));
}

function optU64(f: Field): bigint | undefined {
  if (!f.present) return undefined;
  // -1 means "unlimited" in the spec for memory values
  if (f.value === -1) return -1n;
  return f.uint64();
}

function parseResources(f: Field): Resources {
  f.keys(['devices', 'memory', 'cpu', 'pids', 'blockIO', 'hugepageLimits', 'network', 'rdma', 'unified']);
  const mem = f.at('memory'), cpu = f.at('cpu'), blk = f.at('blockIO'), pids = f.at('pids');
  if (mem.present) mem.keys(['limit', 'reservation', 'swap', 'kernel', 'kernelTCP', 'swappiness', 'disableOOMKiller', 'useHierarchy', 'checkBeforeUpdate']);
  if (cpu.present) cpu.keys(['shares', 'quota', 'burst', 'period', 'realtimeRuntime', 'realtimePeriod', 'cpus', 'mems', 'idle']);
  return {
    devices: f.at('devices').optArray().map((d) => {
      d.keys(['allow', 'type', 'major', 'minor', 'access']);
      const access = d.at('access').optString() ?? 'rwm';
      if (!/^[rwm]*$/.test(access)) d.at('access').fail(`must be made of r, w and m, got ${JSON.stringify(access)}`);
      return {
        allow: d.at('allow').bool(),
        type: d.at('type').present ? d.at('type').oneOf(['a', 'c', 'b'] as const) : 'a',
        major: d.at('major').present ? d.at('major').int(-1) : null,
        minor: d.at('minor').present ? d.at('minor').int(-1) : null,
        access,
      };
    }),
    memory: mem.present ? {
      limit: optU64(mem.at('limit')), reservation: optU64(mem.at('reservation')), swap: optU64(mem.at('swap')),
      kernel: optU64(mem.at('kernel')), swappiness: mem.at('swappiness').optInt(0, 100), disableOOMKiller: mem.at('disableOOMKiller').optBool(),
    } : undefined,
    cpu: cpu.present ? {
      shares: cpu.at('shares').optInt(0), quota: cpu.at('quota').optInt(-1), burst: cpu.at('burst').optInt(0), period: cpu.at('period').optInt(0),
      realtimeRuntime: cpu.at('realtimeRuntime').optInt(), realtimePeriod: cpu.at('realtimePeriod').optInt(0),
      cpus: cpu.at('cpus').optString(), mems: cpu.at('mems').optString(), idle: cpu.at('idle').optInt(0, 1),
    } : undefined,
    pids: pids.present ? { limit: pids.at('limit').int(-1) } : undefined,
    blockIO: blk.present ? {
      weight: blk.at('weight').optInt(0, 10000), leafWeight: blk.at('leafWeight').optInt(0, 10000),
      weightDevice: blk.at('weightDevice').optArray().map((d) => ({ major: d.at('major').int(0), minor: d.at('minor').int(0), weight: d.at('weight').optInt(0, 10000), leafWeight: d.at('leafWeight').optInt(0, 10000) })),
      throttleReadBpsDevice: throttle(blk.at('throttleReadBpsDevice')), throttleWriteBpsDevice: throttle(blk.at('throttleWriteBpsDevice')),
      throttleReadIOPSDevice: throttle(blk.at('throttleReadIOPSDevice')), throttleWriteIOPSDevice: throttle(blk.at('throttleWriteIOPSDevice')),
    } : undefined,
    hugepageLimits: f.at('hugepageLimits').optArray().map((h) => ({ pageSize: h.at('pageSize').nonEmptyString(), limit: h.at('limit').uint64() })),
    unified: f.at('unified').optStringMap(),
  };
}

function parseLinux(f: Field): Linux {
  f.keys(['namespaces', 'uidMappings', 'gidMappings', 'timeOffsets', 'devices', 'cgroupsPath', 'resources', 'rootfsPropagation', 'seccomp', 'sysctl', 'maskedPaths', 'readonlyPaths', 'mountLabel', 'intelRdt', 'personality', 'memoryPolicy']);
  const seen = new Set<string>();
  const namespaces = f.at('namespaces').optArray().map((n) => {
    n.keys(['type', 'path']);
    const type = n.at('type').oneOf(NAMESPACE_TYPES);
    if (seen.has(type)) n.at('type').fail(`duplicate namespace ${type}`);
    seen.add(type);
    return { type, path: n.at('path').present ? n.at('path').absPath() : undefined };
  });
  const timeOffsets: Linux['timeOffsets'] = {};
  const to = f.at('timeOffsets');
  if (to.present) for (const k of Object.keys(to.object())) {
    if (k !== 'monotonic' && k !== 'boottime') to.at(k).fail('unknown clock (expected monotonic or boottime)');
    timeOffsets[k] = { secs: to.at(k).at('secs').optInt() ?? 0, nanosecs: to.at(k).at('nanosecs').optInt(0, 999999999) ?? 0 };
  }
  const prop = f.at('rootfsPropagation');
  return {
    namespaces,
    uidMappings: idMappings(f.at('uidMappings')),
    gidMappings: idMappings(f.at('gidMappings')),
    timeOffsets,
    devices: f.at('devices').optArray().map((d) => {
      d.keys(['path', 'type', 'major', 'minor', 'fileMode', 'uid', 'gid']);
      const type = d.at('type').oneOf(['c', 'b', 'u', 'p'] as const);
      return {
        path: cleanPath(d.at('path')), type,
        major: type === 'p' ? 0 : d.at('major').int(0), minor: type === 'p' ? 0 : d.at('minor').int(0),
        fileMode: d.at('fileMode').optInt(0, 0o7777), uid: d.at('uid').optInt(0), gid: d.at('gid').optInt(0),
      };
    }),
    cgroupsPath: f.at('cgroupsPath').optString(),
    resources: parseResources(new Field(`${f.path}.resources`, f.at('resources').value ?? {})),
    rootfsPropagation: prop.present ? prop.oneOf(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']) : undefined,
    maskedPaths: f.at('maskedPaths').optArray().map(cleanPath),
    readonlyPaths: f.at('readonlyPaths').optArray().map(cleanPath),
    sysctl: f.at('sysctl').optStringMap(),
    seccomp: f.at('seccomp').present ? parseSeccomp(f.at('seccomp')) : undefined,
    mountLabel: f.at('mountLabel').optString(),
    personality: f.at('personality').present ? { domain: f.at('personality').at('domain').oneOf(['LINUX', 'LINUX32']) } : undefined,
  };
}

/**
 * Parses config.json text; throws InvalidInput naming the bad field. A
 * property it does not know is refused, unless `onUnknown` takes it: the
 * runtime spec says a runtime MUST NOT fail on one (berth-runtime logs it).
 */
export function parseConfig(text: string, onUnknown?: (path: string) => void): Config {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InvalidInput('config.json', `not valid JSON: ${(e as Error).message}`);
  }
  const f = new Field('', raw, onUnknown);
  f.object();
  f.keys(TOP);
  const ver = f.at('ociVersion').nonEmptyString();
  if (!/^1\.\d+\.\d+/.test(ver)) f.at('ociVersion').fail(`unsupported version ${JSON.stringify(ver)} (berth implements 1.x)`);
  const root = f.at('root');
  root.keys(['path', 'readonly']);
  const linux = parseLinux(new Field('linux', f.at('linux').value ?? {}, onUnknown));
  const hooks = f.at('hooks');
  if (hooks.present) hooks.keys(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
  const config: Config = {
    ociVersion: ver,
    root: { path: root.at('path').nonEmptyString(), readonly: root.at('readonly').optBool() },
    process: parseProcess(f.at('process')),
    hostname: f.at('hostname').optString(),
    domainname: f.at('domainname').optString(),
    mounts: f.at('mounts').optArray().map((m) => {
      m.keys(['destination', 'type', 'source', 'options', 'uidMappings', 'gidMappings']);
      const options = m.at('options').optStrings();
      options.forEach((o, i) => {
        if (o === '' || o.includes(',')) m.at(`options[${i}]`).fail(`bad mount option ${JSON.stringify(o)}`);
      });
      return { destination: cleanPath(m.at('destination')), type: m.at('type').optString() ?? '', source: m.at('source').optString() ?? '', options };
    }),
    hooks: {
      prestart: hookList(hooks.at('prestart')), createRuntime: hookList(hooks.at('createRuntime')),
      createContainer: hookList(hooks.at('createContainer')), startContainer: hookList(hooks.at('startContainer')),
      poststart: hookList(hooks.at('poststart')), poststop: hookList(hooks.at('poststop')),
    },
    annotations: f.at('annotations').optStringMap(),
    linux,
  };
  const ns = new Set(linux.namespaces.map((n) => n.type));
  // The spec lets a config leave the mount namespace out ("If a namespace type is not specified in the namespaces array, the
  // container MUST inherit the runtime namespace of that type"); berth refuses that rather than mount the root, /proc and the
  // config's mounts in the host's namespace, where nothing would take them down again (runc leaves them there)
  if (!ns.has('mount')) throw new InvalidInput('linux.namespaces', 'no "mount" namespace: the container would inherit the runtime\'s mount namespace (runtime spec, config-linux "Namespaces": "If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime namespace of that type"), and its root and mounts would be made in the host\'s; berth-runtime refuses that: add {"type": "mount"}');
  if ((linux.uidMappings.length > 0 || linux.gidMappings.length > 0) && !ns.has('user')) {
    throw new InvalidInput('linux.uidMappings', 'id mappings need a user namespace in linux.namespaces');
  }
  const userNs = linux.namespaces.find((n) => n.type === 'user');
  if (userNs && !userNs.path && (linux.uidMappings.length === 0 || linux.gidMappings.length === 0)) {
    throw new InvalidInput('linux.uidMappings', 'a new user namespace needs uidMappings and gidMappings');
  }
  if (Object.keys(linux.timeOffsets).length > 0 && !ns.has('time')) {
    throw new InvalidInput('linux.timeOffsets', 'time offsets need a time namespace in linux.namespaces');
  }
  if (config.hostname !== undefined && !ns.has('uts')) throw new InvalidInput('hostname', 'setting the hostname needs a uts namespace');
  return config;
}

export { InvalidInput };
