// A container's root filesystem on the host (mounted for its run, or for a
// call on a stopped container) and the /etc files berth writes for it:
// hostname, hosts and resolv.conf.
import { appendFileSync, fstatSync, mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { fsx, MS_BIND } from '../util/fsx.js';
import { NotFound } from '../util/check.js';
import { closeFd, mountAll, RootDir } from '../image/index.js';
import { hostResolvConf } from '../network/index.js';
import { INIT_TARGET } from './spec.js';
import { extraHost } from './validate.js';
import type { ContainerRecord } from './records.js';
import type { HostConfig, MountPoint } from './types.js';

export function isMounted(path: string): boolean {
  const root = fsx().isMountPoint(path);
  if (root !== null) return root;
  try {
    const p = resolvePath(path);
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);
  } catch { return false; }
}

/** Mounts the container's root at `rootfs` unless it is mounted; whether this call mounted it. */
export function mountRoot(r: ContainerRecord, rootfs: string): boolean {
  mkdirSync(rootfs, { recursive: true });
  if (isMounted(rootfs)) return false;
  mountAll(r.RootMounts, rootfs);
  return true;
}

/** Unmounts the root and what is under it (lazily when busy). */
export function unmountRoot(rootfs: string): void {
  for (let i = 0; i < 4 && isMounted(rootfs); i++) {
    try { fsx().umount(rootfs); } catch { try { fsx().umount(rootfs, true); } catch { /* not mounted */ } }
  }
}

/**
 * The volume mounts with a Subpath (API 1.45), as bind sources that cannot
 * be redirected: the container writes its volumes and may plant symlinks
 * there, so the subpath is resolved inside the volume by fd, and that fd is
 * bound onto an entry of berth's own in `stage` (as dockerd does: a bind
 * cannot come from an fd of another mount namespace). The spec names that
 * entry; `release` unmounts and removes it once the container's mounts are
 * made. Nothing ever removes `stage`'s entries recursively: a bind left
 * there by a crash is unmounted first (releaseStaged).
 */
export function stageSubpaths(r: ContainerRecord, stage: string): { sources: Map<string, string>; release: () => void } {
  const sources = new Map<string, string>();
  const release = () => { for (const at of sources.values()) releaseStaged(at); sources.clear(); };
  try {
    for (const [i, mp] of r.Mounts.entries()) {
      const sub = subpathOf(r, mp);
      if (!sub) continue;
      const root = RootDir.open(mp.Source);
      let fd: number;
      try { fd = root.resolve(sub, true); } catch (e) {
        throw e instanceof NotFound ? new NotFound('path', `error while mounting volume '${mp.Name}': subpath "${sub}": no such file or directory`) : e;
      } finally { root.close(); }
      try {
        const at = join(stage, `${r.Id.slice(0, 24)}-${i}`);
        releaseStaged(at);
        mkdirSync(stage, { recursive: true, mode: 0o700 });
        if (fstatSync(fd).isDirectory()) mkdirSync(at); else writeFileSync(at, '', { flag: 'wx' });
        sources.set(mp.Destination, at);
        fsx().mount(`/proc/self/fd/${fd}`, at, '', MS_BIND, '');
      } finally { closeFd(fd); }
    }
  } catch (e) { release(); throw e; }
  return { sources, release };
}

/** The Subpath (API 1.45) a volume mount point was created with, if any. */
export function subpathOf(r: ContainerRecord, mp: MountPoint): string | undefined {
  if (mp.Type !== 'volume') return undefined;
  return r.HostConfig.Mounts?.find((m) => m.Type === 'volume' && m.Target === mp.Destination)?.VolumeOptions?.Subpath || undefined;
}

/** Unmounts and removes one staged subpath entry (never recursively: it may still be a bind of the volume). */
export function releaseStaged(at: string): void {
  try { fsx().umount(at, true); } catch { /* not mounted */ }
  try { rmdirSync(at); } catch { try { unlinkSync(at); } catch { /* gone */ } }
}

/** Runs `fn` with the container's root mounted: a stopped container's only for the call. */
export async function withRoot<T>(r: ContainerRecord, rootfs: string, fn: (rootfs: string) => Promise<T> | T): Promise<T> {
  const mountedHere = mountRoot(r, rootfs);
  try { return await fn(rootfs); } finally { if (mountedHere && !r.State.Running) unmountRoot(rootfs); }
}

/**
 * The mount points the runtime makes in a container's root for berth's own
 * mounts and binds: they are not the container's changes (docker keeps them
 * in its hidden init layer).
 */
export function mountPoints(r: ContainerRecord): string[] {
  return ['/proc', '/sys', '/dev', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', ...(r.HostConfig.Init ? [INIT_TARGET] : []),
    ...r.Mounts.map((m) => m.Destination), ...Object.keys(r.HostConfig.Tmpfs ?? {})];
}

export interface EtcFiles { hostname: string; hosts: string; resolvConf: string }

/** The paths of the /etc files in `dir`. */
export function etcPaths(dir: string): EtcFiles {
  return { hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') };
}

const LOCAL_HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

/**
 * Writes the container's hostname, hosts and resolv.conf into `dir` (with
 * the host's network: the host's own). `hostGateway` is what --add-host
 * NAME:host-gateway names: the default bridge's gateway, as in docker.
 */
export function writeEtcFiles(r: ContainerRecord, dir: string, hostGateway = ''): EtcFiles {
  const files = etcPaths(dir);
  const host = r.HostConfig.NetworkMode === 'host';
  writeFileSync(files.hostname, `${host ? readFileSync('/etc/hostname', 'utf8').trim() : r.Config.Hostname}\n`);
  const extra = (r.HostConfig.ExtraHosts ?? []).map((e, i) => extraHost(e, `HostConfig.ExtraHosts[${i}]`)).map(([n, ip]) => `${ip === 'host-gateway' ? hostGateway : ip}\t${n}\n`).join('');
  const base = host ? readFileSync('/etc/hosts', 'utf8') : LOCAL_HOSTS;
  writeFileSync(files.hosts, `${base}${base.endsWith('\n') || !base ? '' : '\n'}${extra}`);
  writeFileSync(files.resolvConf, resolvConf(hostResolvConf(), r.HostConfig));
  return files;
}

/** Adds lines to a hosts file in place (the container has it bound: the inode stays). */
export function appendHosts(path: string, lines: string[]): void {
  if (lines.length) appendFileSync(path, lines.map((l) => `${l}\n`).join(''));
}

/** Makes `ip` the resolv.conf's only nameserver (in place: the container has the file bound), keeping its search and options. */
export function useNameserver(path: string, ip: string): void {
  const rest = readFileSync(path, 'utf8').split('\n').filter((l) => l && l.trim().split(/\s+/)[0] !== 'nameserver');
  // docker's ndots:0 beside its resolver, unless options say otherwise: a bare name is asked as it is first
  const ndots = rest.some((l) => /^options\s.*\bndots:/.test(l.trim())) ? [] : ['options ndots:0'];
  writeFileSync(path, `nameserver ${ip}\n${[...rest, ...ndots].map((l) => `${l}\n`).join('')}`);
}

/** A nameserver on the host's loopback, which a container's own namespace cannot reach. */
const loopback = (l: string) => /^nameserver\s+(127\.|::1\s*$)/.test(l.trim());

/**
 * /etc/resolv.conf for a container: the host's, with --dns, --dns-search and
 * --dns-option replacing its nameserver, search and options lines, as docker
 * does. With a network of its own the host's loopback resolvers are left
 * out, and docker's fallback (8.8.8.8, 8.8.4.4) stands in when none is left
 * (unless berthd's resolvers were given in $BERTH_RESOLV_CONF).
 */
function resolvConf(hostText: string, h: HostConfig): string {
  const lines = hostText.split('\n');
  const keep = (word: string) => lines.filter((l) => l.trim().split(/\s+/)[0] === word);
  const reachable = h.NetworkMode === 'host' ? keep('nameserver') : keep('nameserver').filter((l) => !loopback(l));
  // resolvers berthd was given ($BERTH_RESOLV_CONF) are all it uses: no fallback
  const servers = reachable.length || h.NetworkMode === 'host' || h.NetworkMode === 'none' || process.env.BERTH_RESOLV_CONF ? reachable : ['nameserver 8.8.8.8', 'nameserver 8.8.4.4'];
  const out = [
    ...(h.Dns?.length ? h.Dns.map((ip) => `nameserver ${ip}`) : servers),
    ...(h.DnsSearch?.length ? [`search ${h.DnsSearch.join(' ')}`] : keep('search')),
    ...(h.DnsOptions?.length ? [`options ${h.DnsOptions.join(' ')}`] : keep('options')),
  ];
  return out.length ? `${out.join('\n')}\n` : '';
}
