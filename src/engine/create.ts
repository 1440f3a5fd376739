// docker create: the body checked, the image's config merged, the mounts
// planned (volumes made), the root snapshot prepared and the record
// written. A create that fails leaves nothing: no record, no directory, no
// snapshot, and its name free again.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DockerWords, InvalidInput } from '../util/check.js';
import { parseReference, type ImageStore } from '../image/index.js';
import { exposedPorts, parsePortBindings, type Networks } from '../network/index.js';
import { type Runtime, signalNumber } from '../runtime/index.js';
import { logOptions } from './log-options.js';
import { containerConfig } from './container-config.js';
import { checkCreateBody, checkHostConfig } from './validate.js';
import { ZERO_TIME, type ContainerConfig, type HostConfig, type MountPoint } from './types.js';
import { checkName, type ContainerRecord, type ContainerStore, type EndpointSettings } from './records.js';
import type { VolumeStore } from './volumes.js';

/** What the engine lends a create. */
export interface CreateHost {
  store: ContainerStore;
  images(): ImageStore;
  volumes: VolumeStore;
  networks: Networks;
  /** Drops what this host cannot do, with docker's warnings. */
  discardUnsupported(h: HostConfig): string[];
  /** Refuses container:NAME modes that name no container. */
  checkJoinable(h: HostConfig): void;
}

const LOG_DRIVERS = ['json-file', 'local', 'none'];
/** dockerd's other built-in drivers: berth names them as missing, not as unknown */
const DOCKER_LOG_DRIVERS = ['syslog', 'journald', 'gelf', 'fluentd', 'awslogs', 'splunk', 'etwlogs', 'gcplogs', 'logentries'];

/** `transient`: nothing of its writable layer needs to outlive a crash of the machine (an auto-removed container's, a build step's). */
export async function createContainer(host: CreateHost, input: unknown, name?: string | null, transient = false): Promise<{ Id: string; Warnings: string[] }> {
  const body = checkCreateBody(input);
  if (name) checkName(name);
  const imageRef = body.Image;
  if (typeof imageRef !== 'string' || !imageRef) throw new InvalidInput('Image', 'is required');
  if (!/^(sha256:)?[0-9a-f]{1,64}$/.test(imageRef)) parseReference(imageRef); // a malformed name is a 400, not a 404
  const store = host.images();
  const img = store.resolve(imageRef);
  const ic = (store.config(img).config ?? {}) as unknown as Record<string, unknown>;
  const hc = (body.HostConfig ?? {}) as HostConfig;
  if (body.NetworkDisabled === true && (!hc.NetworkMode || hc.NetworkMode === 'default')) hc.NetworkMode = 'none'; // as dockerd: no network but loopback
  checkHostConfig(hc, body.Hostname);
  const warnings = host.discardUnsupported(hc);
  // container:NAME modes name a container that exists now, as docker checks at create (it must run at start)
  host.checkJoinable(hc);
  for (const [i, link] of (hc.Links ?? []).entries()) {
    const target = link.split(':')[0]!.replace(/^\//, '');
    try { host.store.get(target); } catch { throw new InvalidInput(`HostConfig.Links[${i}]`, `could not get container for ${target}`); }
  }

  const networks = joinedNetworks(host.networks, hc, body.NetworkingConfig as { EndpointsConfig?: Record<string, EndpointSettings | null> } | undefined);
  parsePortBindings(hc.PortBindings as never, undefined, false); // a bad binding is refused now
  const id = randomBytes(32).toString('hex');
  const { config, entrypoint, cmd } = containerConfig(body, ic, id);
  for (const p of exposedPorts(hc.PortBindings ?? undefined)) config.ExposedPorts = { ...(config.ExposedPorts ?? {}), [p]: {} }; // docker exposes what it publishes
  if (config.StopSignal) signalNumber(config.StopSignal); // refuse an unknown one now
  const logType = hc.LogConfig?.Type || 'json-file';
  if (DOCKER_LOG_DRIVERS.includes(logType)) throw new InvalidInput('HostConfig.LogConfig.Type', `logging driver "${logType}" is not available in berth (${LOG_DRIVERS.join(', ')})`);
  // dockerd's words: a name it does not know is looked up as a plugin
  if (!LOG_DRIVERS.includes(logType)) throw new DockerWords('HostConfig.LogConfig.Type', `error looking up logging plugin ${logType}: plugin "${logType}" not found`);
  if (logType !== 'none') logOptions(logType, hc.LogConfig?.Config ?? {}); // a bad --log-opt is refused now, not at start
  // the name is held from here (the store's writes below let other creates run): a second create of it is refused
  const cname = host.store.reserveName(name);
  const dir = host.store.dir(id);
  try {
    const mounts = planMounts(config, hc, host.volumes, (ref) => host.store.get(ref));
    mkdirSync(dir, { mode: 0o710 });
    const rootMounts = await store.prepareRoot(`ctr-${id}`, img, transient || !!hc.AutoRemove);
    const r: ContainerRecord = {
      Id: id, Name: cname, Created: new Date().toISOString(), Path: [...entrypoint, ...cmd][0]!, Args: [...entrypoint, ...cmd].slice(1),
      Image: img.id, ImageName: imageRef, Config: config, HostConfig: { NetworkMode: 'none', ...hc, LogConfig: { Type: logType, Config: hc.LogConfig?.Config ?? {} } },
      State: { Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME },
      RestartCount: 0, Mounts: mounts, LogPath: logPath(logType, dir, id), RootMounts: rootMounts, Networks: networks,
    };
    host.store.add(r);
    try { await host.store.save(r); } catch (e) { host.store.delete(id); throw e; }
    host.store.event(r, 'create');
    return { Id: id, Warnings: warnings };
  } catch (e) {
    try { store.snapshots.release(`ctr-${id}`); } catch { /* none made */ }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    host.store.releaseName(cname);
  }
}

/**
 * The networks a new container joins at start, by name: its network mode's
 * (a bridge network; none for none, host and container:NAME) first, then the
 * others NetworkingConfig names, each with what it asked of that network.
 */
function joinedNetworks(networks: Networks, h: HostConfig, nc: { EndpointsConfig?: Record<string, EndpointSettings | null> } | undefined): Record<string, EndpointSettings> {
  const mode = h.NetworkMode ?? 'bridge';
  // the docker CLI names the default network "default"
  const asked = Object.fromEntries(Object.entries(nc?.EndpointsConfig ?? {}).map(([k, v]) => [k === 'default' ? 'bridge' : k, v]));
  if (mode === 'none' || mode === 'host' || mode.startsWith('container:')) {
    const other = Object.keys(asked).find((n) => n !== mode);
    if (other) throw new InvalidInput('NetworkingConfig.EndpointsConfig', `container cannot be connected to network ${other} with network mode ${mode}`);
    return {};
  }
  const out: Record<string, EndpointSettings> = {};
  for (const name of [mode, ...Object.keys(asked).filter((n) => n !== mode)]) {
    let n;
    // a 400, not a 404: the docker CLI takes a 404 from create for a missing image, and would pull
    try { n = networks.get(name); } catch (e) { throw new InvalidInput('NetworkingConfig.EndpointsConfig', (e as Error).message); }
    if (!n.Bridge) throw new InvalidInput('NetworkingConfig.EndpointsConfig', `container cannot be connected to the ${n.Name} network and another`);
    const e = asked[name] ?? {};
    if ((e.IPAMConfig?.IPv4Address || e.IPAMConfig?.IPv6Address) && n.Name === 'bridge') throw new InvalidInput('NetworkingConfig.EndpointsConfig', 'user specified IP address is supported only with user-defined networks');
    out[n.Name] = { Aliases: e.Aliases ?? [], IPAMConfig: e.IPAMConfig ?? null, MacAddress: e.MacAddress ?? '' };
  }
  return out;
}

function logPath(logType: string, dir: string, id: string): string {
  if (logType === 'none') return '';
  return logType === 'local' ? join(dir, 'local-logs', 'container.log') : join(dir, `${id}-json.log`);
}

/** What this host cannot do of `h`, discarded with docker's warnings (its sysinfo checks). */
export function discardUnsupported(h: HostConfig, runtime: Runtime, cgroupParent: string): string[] {
  const warnings: string[] = [];
  // dockerd's warning; the limit is discarded: kernels since 5.x accept kmem.limit_in_bytes and do not apply it (v2 has no such knob)
  if (h.KernelMemory) {
    h.KernelMemory = 0;
    warnings.push('Specifying a kernel memory limit is deprecated and will be removed in a future release.');
  }
  if (h.KernelMemoryTCP && !runtime.kernelTcpSupported()) {
    h.KernelMemoryTCP = 0;
    warnings.push('Your kernel does not support kernel memory TCP limit capabilities or the cgroup is not mounted. Limitation discarded.');
  }
  if (h.BlkioWeight && !runtime.blockWeightSupported(h.CgroupParent || cgroupParent)) {
    h.BlkioWeight = 0;
    warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
  }
  if (typeof h.MemorySwappiness === 'number' && h.MemorySwappiness >= 0 && !runtime.swappinessSupported()) {
    h.MemorySwappiness = null;
    warnings.push('Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
  }
  if ((h.CpuRealtimePeriod || h.CpuRealtimeRuntime) && !runtime.realtimeSupported()) throw new DockerWords('HostConfig.CpuRealtimeRuntime', 'Your kernel does not support CPU real-time scheduler');
  if (h.OomKillDisable && !runtime.oomKillDisableSupported()) {
    h.OomKillDisable = false;
    warnings.push('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
  }
  return warnings;
}

const BIND_MODES = ['ro', 'rw', 'z', 'Z', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'nocopy'];

/** One -v SRC:DST[:MODE] as a mount point (a named volume made when new). */
function bindMount(b: string, volumes: VolumeStore): MountPoint {
  const parts = b.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw new InvalidInput('HostConfig.Binds', `invalid volume specification: "${b}"`);
  const [src, dst, mode = ''] = parts as [string, string, string?];
  if (dst.replace(/\/+$/, '') === '') throw new DockerWords('HostConfig.Binds', `invalid volume specification: '${b}': invalid mount config for type "${src.startsWith('/') ? 'bind' : 'volume'}": invalid specification: destination can't be '/'`);
  const opts = mode.split(',').filter(Boolean);
  for (const o of opts) if (!BIND_MODES.includes(o)) throw new InvalidInput('HostConfig.Binds', `invalid mode: ${o} in "${b}"`);
  const rw = !opts.includes('ro');
  const prop = opts.find((o) => /^r?(shared|slave|private)$/.test(o)) ?? 'rprivate';
  if (src.startsWith('/')) {
    if (!existsSync(src)) mkdirSync(src, { recursive: true }); // docker creates a missing bind source
    return { Type: 'bind', Source: src, Destination: dst, Mode: mode, RW: rw, Propagation: prop };
  }
  const v = volumes.create(src);
  return { Type: 'volume', Name: v.Name, Source: v.Mountpoint, Destination: dst, Driver: 'local', Mode: mode || 'z', RW: rw, Propagation: '' };
}

/** One --mount as a mount point; a tmpfs one goes to h.Tmpfs instead. */
function apiMount(m: NonNullable<HostConfig['Mounts']>[number], h: HostConfig, volumes: VolumeStore): MountPoint | undefined {
  if (!m.Target) throw new InvalidInput('HostConfig.Mounts', 'Target must not be empty');
  if (m.Target.replace(/\/+$/, '') === '') throw new DockerWords('HostConfig.Mounts', `invalid mount config for type "${m.Type}": invalid specification: destination can't be '/'`);
  if (m.Type === 'bind') {
    if (!m.Source || !m.Source.startsWith('/')) throw new InvalidInput('HostConfig.Mounts', `invalid mount config for type "bind": invalid mount path: '${m.Source ?? ''}' mount path must be absolute`);
    if (!existsSync(m.Source)) throw new InvalidInput('HostConfig.Mounts', `invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
    return { Type: 'bind', Source: m.Source, Destination: m.Target, Mode: '', RW: !m.ReadOnly, Propagation: m.BindOptions?.Propagation ?? 'rprivate' };
  }
  if (m.Type === 'volume') {
    const sub = m.VolumeOptions?.Subpath;
    // as dockerd (filepath.IsLocal): inside the volume, found at start
    if (sub && (isAbsolute(sub) || /^\.\.(\/|$)/.test(posix.normalize(sub)))) throw new DockerWords('HostConfig.Mounts', 'invalid mount config for type "volume": subpath must be a relative path within the volume');
    const v = volumes.create(m.Source || undefined, m.VolumeOptions?.Labels ?? {}, { anonymous: !m.Source });
    return { Type: 'volume', Name: v.Name, Source: v.Mountpoint, Destination: m.Target, Driver: 'local', Mode: m.VolumeOptions?.NoCopy ? 'nocopy' : 'z', RW: !m.ReadOnly, Propagation: '' };
  }
  if (m.Type === 'tmpfs') {
    h.Tmpfs = { ...(h.Tmpfs ?? {}), [m.Target]: [m.TmpfsOptions?.SizeBytes ? `size=${m.TmpfsOptions.SizeBytes}` : '', m.TmpfsOptions?.Mode ? `mode=${m.TmpfsOptions.Mode.toString(8)}` : ''].filter(Boolean).join(',') };
    return undefined;
  }
  throw new InvalidInput('HostConfig.Mounts', `mount type unknown: "${(m as { Type: string }).Type}"`);
}

/** Binds, --mount, image VOLUMEs and --volumes-from as mount points (volumes created here). */
export function planMounts(c: ContainerConfig, h: HostConfig, volumes: VolumeStore, get: (ref: string) => ContainerRecord): MountPoint[] {
  const out: MountPoint[] = [];
  const add = (m: MountPoint) => {
    if (!m.Destination.startsWith('/')) throw new InvalidInput('HostConfig.Binds', `invalid mount config: mount path must be absolute: "${m.Destination}"`);
    if (out.some((o) => o.Destination === m.Destination)) throw new InvalidInput('HostConfig.Binds', `Duplicate mount point: ${m.Destination}`);
    out.push(m);
  };
  for (const b of h.Binds ?? []) add(bindMount(b, volumes));
  for (const m of h.Mounts ?? []) {
    const mp = apiMount(m, h, volumes);
    if (mp) add(mp);
  }
  for (const from of h.VolumesFrom ?? []) {
    const [ref, mode] = from.split(':') as [string, string?];
    for (const m of get(ref).Mounts) {
      if (!out.some((o) => o.Destination === m.Destination)) out.push({ ...m, RW: mode === 'ro' ? false : m.RW });
    }
  }
  for (const dest of Object.keys(c.Volumes ?? {})) {
    if (out.some((o) => o.Destination === dest) || (h.Tmpfs && dest in h.Tmpfs)) continue;
    const v = volumes.create(undefined, {}, { anonymous: true });
    out.push({ Type: 'volume', Name: v.Name, Source: v.Mountpoint, Destination: dest, Driver: 'local', Mode: '', RW: true, Propagation: '' });
  }
  return out;
}
