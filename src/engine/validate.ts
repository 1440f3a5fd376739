// Checks a container create body field by field, as the Engine API defines
// them: a wrong type names its field; a field docker has but berth does not
// carry out is refused unless it is empty, so nothing a client asks for is
// silently dropped. A field docker does not know either is ignored, as its
// JSON decoder ignores it (dockerode's run() sends `VolumesFrom: []` at the
// top level, testcontainers a `name`); HostConfig's fields at the top level
// are read as dockerd reads them (ContainerConfigWrapper.getHostConfig).
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { DockerWords, InvalidInput, isObj } from '../util/check.js';
import type { HostConfig } from './types.js';

type Kind = 'string' | 'bool' | 'int' | 'strings' | 'strOrStrings' | 'object' | 'map' | 'array' | 'any';

const CONFIG: Record<string, Kind> = {
  Hostname: 'string', Domainname: 'string', User: 'string', AttachStdin: 'bool', AttachStdout: 'bool', AttachStderr: 'bool',
  ExposedPorts: 'object', Tty: 'bool', OpenStdin: 'bool', StdinOnce: 'bool', Env: 'strings', Cmd: 'strOrStrings', Healthcheck: 'object',
  ArgsEscaped: 'bool', Image: 'string', Volumes: 'object', WorkingDir: 'string', Entrypoint: 'strOrStrings', NetworkDisabled: 'bool',
  MacAddress: 'string', OnBuild: 'strings', Labels: 'map', StopSignal: 'string', StopTimeout: 'int', Shell: 'strings',
  HostConfig: 'object', NetworkingConfig: 'object',
};

const HOST: Record<string, Kind> = {
  CpuShares: 'int', Memory: 'int', CgroupParent: 'string', BlkioWeight: 'int', CpuPeriod: 'int', CpuQuota: 'int', CpusetCpus: 'string',
  CpusetMems: 'string', Devices: 'array', MemoryReservation: 'int', MemorySwap: 'int', NanoCpus: 'int', Init: 'bool', PidsLimit: 'int',
  Ulimits: 'array', Binds: 'strings', LogConfig: 'object', NetworkMode: 'string', RestartPolicy: 'object', AutoRemove: 'bool',
  VolumesFrom: 'strings', Mounts: 'array', CapAdd: 'strings', CapDrop: 'strings', OomScoreAdj: 'int', Privileged: 'bool',
  ReadonlyRootfs: 'bool', SecurityOpt: 'strings', Tmpfs: 'map', ShmSize: 'int', Sysctls: 'map', ConsoleSize: 'array',
  // docker's, not carried out by berth: accepted only when empty
  BlkioWeightDevice: 'array', BlkioDeviceReadBps: 'array', BlkioDeviceWriteBps: 'array', BlkioDeviceReadIOps: 'array', BlkioDeviceWriteIOps: 'array',
  CpuRealtimePeriod: 'int', CpuRealtimeRuntime: 'int', DeviceCgroupRules: 'strings', DeviceRequests: 'array', KernelMemory: 'int', KernelMemoryTCP: 'int',
  MemorySwappiness: 'int', OomKillDisable: 'bool', CpuCount: 'int', CpuPercent: 'int', IOMaximumIOps: 'int', IOMaximumBandwidth: 'int',
  ContainerIDFile: 'string', PortBindings: 'object', VolumeDriver: 'string', Annotations: 'map', CgroupnsMode: 'string', Dns: 'strings',
  DnsOptions: 'strings', DnsSearch: 'strings', ExtraHosts: 'strings', GroupAdd: 'strings', IpcMode: 'string', Cgroup: 'string', Links: 'strings',
  PidMode: 'string', PublishAllPorts: 'bool', StorageOpt: 'map', UTSMode: 'string', UsernsMode: 'string', Runtime: 'string', Isolation: 'string',
  MaskedPaths: 'strings', ReadonlyPaths: 'strings',
};

/** What a create body may have at its top level: the config, and HostConfig's fields as older clients send them (see hostConfigOf). */
const TOP_LEVEL: Record<string, Kind> = { ...HOST, ...CONFIG, Cpuset: 'string' };

/** Fields berth does not carry out (yet): a value other than empty is refused. */
const NOT_CARRIED_OUT = new Set([
  'BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps',
  'CpuCount', 'CpuPercent', 'IOMaximumIOps', 'IOMaximumBandwidth', 'StorageOpt',
]);
const MODE_FIELDS: Record<string, string[]> = { IpcMode: ['', 'private', 'shareable', 'host'], PidMode: ['', 'private', 'host'], UTSMode: ['', 'private', 'host'], CgroupnsMode: ['', 'private', 'host'], Cgroup: [''], Isolation: ['', 'default'], UsernsMode: ['', 'host'] };
/** The runtime names a create may give: berth runs each container with its own runtime, runc's equal (dockerd's default names). */
const RUNTIMES = ['', 'berth', 'runc', 'io.containerd.runc.v2'];
/** dockerd's device cgroup rule: type, major:minor (or *), access */
export const DEVICE_RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

function typeOk(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case 'string': return typeof v === 'string';
    case 'bool': return typeof v === 'boolean';
    case 'int': return typeof v === 'number' && Number.isInteger(v);
    case 'strings': return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'strOrStrings': return typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    case 'object': return isObj(v);
    case 'map': return isObj(v) && Object.values(v).every((x) => typeof x === 'string');
    case 'array': return Array.isArray(v);
    default: return true;
  }
}

const NAMES: Record<Kind, string> = { string: 'a string', bool: 'a boolean', int: 'an integer', strings: 'an array of strings', strOrStrings: 'a string or an array of strings', object: 'an object', map: 'an object of strings', array: 'an array', any: 'a value' };

const empty = (v: unknown) => v === null || v === undefined || v === '' || v === 0 || v === false || (Array.isArray(v) && v.length === 0) || (isObj(v) && Object.keys(v).length === 0);

function check(obj: Record<string, unknown>, schema: Record<string, Kind>, prefix: string): void {
  for (const [k, v] of Object.entries(obj)) {
    const kind = Object.hasOwn(schema, k) ? schema[k] : undefined; // never a name Object.prototype has (toString, constructor)
    const path = `${prefix}${k}`;
    if (!kind || v === null) continue; // a field docker does not know is ignored; docker treats null as absent
    if (!typeOk(kind, v)) throw new InvalidInput(path, `must be ${NAMES[kind]}, got ${JSON.stringify(v).slice(0, 60)}`);
    // docker decodes these into int64: a larger number is refused as its decoder refuses it
    if (kind === 'int' && !((v as number) >= -(2 ** 63) && (v as number) < 2 ** 63)) throw new DockerWords(path, `json: cannot unmarshal number ${String(v)} into Go struct field ${path} of type int64`);
  }
}

/** What docker's daemon checks of the values themselves at create (verifyContainerSettings), with its words. */
function checkValues(b: Record<string, unknown>, h: Record<string, unknown> | undefined, cpus: number): void {
  const wd = b.WorkingDir;
  if (typeof wd === 'string' && wd !== '' && !wd.startsWith('/')) throw new DockerWords('WorkingDir', `the working directory '${wd}' is invalid, it needs to be an absolute path`);
  if (!h) return;
  if (typeof h.CpuShares === 'number' && h.CpuShares < 0) throw new DockerWords('HostConfig.CpuShares', `invalid CPU shares (${h.CpuShares}): value must be a positive integer`);
  if (typeof h.NanoCpus === 'number' && (h.NanoCpus < 0 || h.NanoCpus > cpus * 1e9)) throw new DockerWords('HostConfig.NanoCpus', `range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`);
  if (typeof h.NanoCpus === 'number' && h.NanoCpus > 0 && typeof h.CpuQuota === 'number' && h.CpuQuota > 0) throw new DockerWords('HostConfig.NanoCpus', 'conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (typeof h.CpuPeriod === 'number' && h.CpuPeriod !== 0 && (h.CpuPeriod < 1000 || h.CpuPeriod > 1000000)) throw new DockerWords('HostConfig.CpuPeriod', 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  if (typeof h.CpuQuota === 'number' && h.CpuQuota > 0 && h.CpuQuota < 1000) throw new DockerWords('HostConfig.CpuQuota', 'CPU cfs quota can not be less than 1ms (i.e. 1000)');
  for (const k of ['Memory', 'MemoryReservation', 'ShmSize'] as const) {
    if (typeof h[k] === 'number' && (h[k] as number) < 0) throw new DockerWords(`HostConfig.${k}`, k === 'ShmSize' ? 'SHM size can not be less than 0' : `invalid ${k === 'Memory' ? 'memory limit' : 'memory reservation'} (${h[k] as number}): value must not be negative`);
  }
}

/** The host fields dockerd checks by value at create, with its words (verifyPlatformContainerResources and friends). */
function checkHostValues(h: Record<string, unknown>): void {
  const sw = h.MemorySwappiness;
  if (typeof sw === 'number' && sw !== -1 && (sw < 0 || sw > 100)) throw new DockerWords('HostConfig.MemorySwappiness', `Invalid value: ${sw}, valid memory swappiness range is 0-100`);
  const rt = h.CpuRealtimeRuntime, rp = h.CpuRealtimePeriod;
  if (typeof rt === 'number' && typeof rp === 'number' && rt && rp && rt > rp) throw new DockerWords('HostConfig.CpuRealtimeRuntime', 'cpu real-time runtime cannot be higher than cpu real-time period');
  if (typeof h.Runtime === 'string' && !RUNTIMES.includes(h.Runtime)) throw new DockerWords('HostConfig.Runtime', `Unknown runtime specified ${h.Runtime}`);
  // dockerd asks the plugin registry for any driver but "local"; berth has no volume plugins
  const vd = h.VolumeDriver;
  if (typeof vd === 'string' && vd && vd !== 'local') throw new DockerWords('HostConfig.VolumeDriver', `error looking up volume plugin ${vd}: plugin "${vd}" not found`);
  const parent = h.CgroupParent;
  if (typeof parent === 'string' && parent && (!/^[A-Za-z0-9_.@:/-]+$/.test(parent) || parent.split('/').includes('..'))) throw new InvalidInput('HostConfig.CgroupParent', `"${parent}" is not a cgroup path (letters, digits, _ . @ : - and /, no "..")`);
  // dockerd without a device driver for them (no NVIDIA runtime here) says so, in these words
  const requests = h.DeviceRequests as { Driver?: string; Capabilities?: string[][] }[] | undefined;
  if (requests?.length) throw new DockerWords('HostConfig.DeviceRequests', `could not select device driver "${requests[0]!.Driver ?? ''}" with capabilities: [${(requests[0]!.Capabilities ?? []).map((c) => `[${c.join(' ')}]`).join(' ')}]`);
  for (const [i, rule] of ((h.DeviceCgroupRules as string[] | undefined) ?? []).entries()) {
    if (!DEVICE_RULE.test(rule)) throw new DockerWords(`HostConfig.DeviceCgroupRules[${i}]`, `invalid device cgroup rule format: '${rule}'`);
  }
}

/**
 * HostConfig as dockerd takes it from a create body: the inner one, or
 * without it the host fields the body has at its top level (older clients
 * send them there); with both, the top level's Memory, MemorySwap,
 * CpuShares and CpusetCpus (or its Cpuset) where the inner one has none.
 */
function hostConfigOf(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const top = Object.fromEntries(Object.entries(body).filter(([k, v]) => Object.hasOwn(HOST, k) && !Object.hasOwn(CONFIG, k) && v !== null));
  if (typeof body.Cpuset === 'string' && body.Cpuset && top.CpusetCpus === undefined) top.CpusetCpus = body.Cpuset;
  const inner = body.HostConfig as Record<string, unknown> | null | undefined;
  if (!inner) return Object.keys(top).length ? top : undefined;
  const h = Object.fromEntries(Object.entries(inner).filter(([k]) => Object.hasOwn(HOST, k))); // what docker does not know goes, as its decoder drops it
  for (const k of ['Memory', 'MemorySwap', 'CpuShares', 'CpusetCpus']) if (!h[k] && top[k]) h[k] = top[k];
  return h;
}

/** Validates and normalises (a string Cmd/Entrypoint becomes a shell form array, as docker's StrSlice does not: one element). */
export function checkCreateBody(body: unknown, cpus = availableParallelism()): Record<string, unknown> {
  if (!isObj(body)) throw new InvalidInput('body', 'must be a JSON object');
  check(body, TOP_LEVEL, '');
  const h = hostConfigOf(body);
  const b: Record<string, unknown> = Object.fromEntries(Object.entries(body).filter(([k]) => Object.hasOwn(CONFIG, k) && k !== 'HostConfig'));
  if (h) b.HostConfig = h;
  for (const k of ['Cmd', 'Entrypoint']) if (typeof b[k] === 'string') b[k] = [b[k]];
  if (h) {
    check(h, HOST, 'HostConfig.');
    for (const k of Object.keys(h)) {
      if (NOT_CARRIED_OUT.has(k) && !empty(h[k])) throw new InvalidInput(`HostConfig.${k}`, 'is not supported by berth');
      const joins = (k === 'IpcMode' || k === 'PidMode') && /^container:./.test((h[k] as string) ?? '');
      if (Object.hasOwn(MODE_FIELDS, k) && !joins && !MODE_FIELDS[k]!.includes((h[k] as string) ?? '')) throw new InvalidInput(`HostConfig.${k}`, `"${h[k] as string}" is not supported by berth`);
    }
    checkHostValues(h);
  }
  checkValues(b, h, cpus);
  const n = b.NetworkingConfig as { EndpointsConfig?: Record<string, unknown> } | undefined;
  if (n?.EndpointsConfig !== undefined && !isObj(n.EndpointsConfig)) throw new InvalidInput('NetworkingConfig.EndpointsConfig', 'must be an object');
  return b;
}

/** What a container's host config must hold together (create and update): docker's conflicts and ranges, with its words. Normalises the default network mode. */
export function checkHostConfig(h: HostConfig, hostname: unknown): void {
  for (const [i, e] of (h.ExtraHosts ?? []).entries()) extraHost(e, `HostConfig.ExtraHosts[${i}]`);
  for (const [i, ip] of (h.Dns ?? []).entries()) if (!isIP(ip)) throw new InvalidInput(`HostConfig.Dns[${i}]`, `"${ip}" is not an IP address`);
  if (h.UTSMode === 'host' && hostname) throw new InvalidInput('Hostname', 'conflicting options: hostname and the UTS mode "host"');
  const net = h.NetworkMode ?? '';
  if (/^container:/.test(net) && hostname) throw new InvalidInput('Hostname', `conflicting options: hostname and the network mode "${net}"`);
  if (h.Links?.length && net === 'host') throw new InvalidInput('HostConfig.Links', 'conflicting options: host type networking can\'t be used with links. This would result in undefined behavior');
  if (h.Links?.length && /^container:/.test(net)) throw new InvalidInput('HostConfig.Links', 'conflicting options: container type network can\'t be used with links. This would result in undefined behavior');
  for (const [i, l] of (h.Links ?? []).entries()) if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*(:\/?[a-zA-Z0-9][a-zA-Z0-9_./-]*)?$/.test(l)) throw new InvalidInput(`HostConfig.Links[${i}]`, `invalid link "${l}" (NAME[:ALIAS])`);
  if (net === 'default' || net === '') h.NetworkMode = 'bridge';
  const p = h.RestartPolicy?.Name ?? '';
  if (!['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(p)) throw new InvalidInput('HostConfig.RestartPolicy.Name', `invalid restart policy '${p}'`);
  if (h.AutoRemove && p && p !== 'no') throw new InvalidInput('HostConfig.AutoRemove', 'can\'t create \'AutoRemove\' container with restart policy');
  if (h.Memory !== undefined && h.Memory !== 0 && h.Memory < 6 * 1024 * 1024) throw new InvalidInput('HostConfig.Memory', 'Minimum memory limit allowed is 6MB');
  if (h.BlkioWeight && (h.BlkioWeight < 10 || h.BlkioWeight > 1000)) throw new InvalidInput('HostConfig.BlkioWeight', 'Range of blkio weight is from 10 to 1000');
}

/** docker's --add-host entry ("name:IP" or "name=IP") as [name, IP]. */
export function extraHost(e: string, field: string): [string, string] {
  const m = /^([^:=\s]+)[:=](.+)$/.exec(e);
  if (!m) throw new InvalidInput(field, `"${e}" is not NAME:IP`);
  if (m[2] === 'host-gateway') return [m[1]!, 'host-gateway']; // the default bridge's gateway, filled in at start
  const ip = m[2]!.replace(/^\[(.*)\]$/, '$1');
  if (!isIP(ip)) throw new InvalidInput(field, `"${e}": "${ip}" is not an IP address`);
  return [m[1]!, ip];
}
