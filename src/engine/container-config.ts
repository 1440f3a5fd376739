// A create body over its image's config: the container's Config as docker
// makes it (the body's fields win; an entrypoint given drops the image's
// Cmd; Env merged by name; labels, volumes and ports merged), and an
// update body over a HostConfig; the restart policy's decision. Pure data.
import { DockerWords, InvalidInput } from '../util/check.js';
import { mergeEnv } from './exec.js';
import { checkCreateBody, checkHostConfig } from './validate.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../runtime/index.js';
import type { ContainerConfig, HostConfig } from './types.js';
import type { ContainerRecord } from './records.js';

export function containerConfig(body: Record<string, unknown>, ic: Record<string, unknown>, id: string): { config: ContainerConfig; entrypoint: string[]; cmd: string[] } {
  const userCmd = body.Cmd as string[] | null | undefined;
  const userEp = body.Entrypoint as string[] | null | undefined;
  const entrypoint = userEp !== undefined && userEp !== null ? (userEp.length === 1 && userEp[0] === '' ? [] : userEp) : (ic.Entrypoint as string[] | null) ?? [];
  // an entrypoint given here drops the image's Cmd, as docker does
  const cmd = userCmd && userCmd.length ? userCmd : userEp !== undefined && userEp !== null ? [] : (ic.Cmd as string[] | null) ?? [];
  if (entrypoint.length + cmd.length === 0) throw new DockerWords('Cmd', 'No command specified');
  const merged = <T>(k: string) => ({ ...((ic[k] as Record<string, T>) ?? {}), ...((body[k] as Record<string, T>) ?? {}) });
  const config: ContainerConfig = {
    Hostname: (body.Hostname as string) || id.slice(0, 12),
    Domainname: (body.Domainname as string) || '',
    User: (body.User as string) || (ic.User as string) || '',
    AttachStdin: !!body.AttachStdin, AttachStdout: !!body.AttachStdout, AttachStderr: !!body.AttachStderr,
    Tty: !!body.Tty, OpenStdin: !!body.OpenStdin, StdinOnce: !!body.StdinOnce,
    Env: mergeEnv((ic.Env as string[]) ?? [], (body.Env as string[]) ?? []), Cmd: cmd, Entrypoint: entrypoint.length ? entrypoint : null, Image: body.Image as string,
    Labels: merged<string>('Labels'),
    WorkingDir: (body.WorkingDir as string) || (ic.WorkingDir as string) || '',
    StopSignal: (body.StopSignal as string) || (ic.StopSignal as string) || undefined,
    StopTimeout: body.StopTimeout as number | undefined,
    Healthcheck: (body.Healthcheck as ContainerConfig['Healthcheck']) ?? (ic.Healthcheck as ContainerConfig['Healthcheck']),
    Volumes: merged<object>('Volumes'),
    ExposedPorts: merged<object>('ExposedPorts'),
    ...(body.MacAddress ? { MacAddress: body.MacAddress as string } : {}),
    ...(body.NetworkDisabled === true ? { NetworkDisabled: true } : {}),
  };
  return { config, entrypoint, cmd };
}

const UPDATABLE = ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'CpusetCpus', 'CpusetMems', 'PidsLimit', 'BlkioWeight', 'RestartPolicy'];

/** `update`'s body checked: a field update cannot change is refused by name. */
export function checkUpdate(body: Record<string, unknown>): Record<string, unknown> {
  const checked = checkCreateBody({ HostConfig: body }).HostConfig as Record<string, unknown>;
  for (const [k, v] of Object.entries(checked)) {
    if (!UPDATABLE.includes(k) && v !== null && v !== 0 && v !== '' && !(Array.isArray(v) && v.length === 0)) {
      throw new InvalidInput(`HostConfig.${k}`, 'cannot be updated (update takes memory, CPU, pids, blkio weight and the restart policy)');
    }
  }
  return checked;
}

/** `current` with what a checked update body sets (docker leaves zero and empty values as they were). */
export function updatedHostConfig(current: HostConfig, checked: Record<string, unknown>): HostConfig {
  const next: HostConfig = { ...current };
  for (const k of UPDATABLE) {
    const v = checked[k];
    if (v === undefined || v === null || v === 0 || v === '') continue;
    if (k === 'RestartPolicy' && !(v as { Name?: string }).Name) continue; // docker sends an empty one when --restart is not given
    (next as Record<string, unknown>)[k] = v;
  }
  checkHostConfig(next, undefined);
  return next;
}

/** Whether a container that just exited is restarted by its policy. */
export function restartWanted(r: ContainerRecord): boolean {
  if (r.StoppedByUser) return false;
  const p = r.HostConfig.RestartPolicy;
  switch (p?.Name) {
    case 'always': case 'unless-stopped': return true;
    case 'on-failure': return r.State.ExitCode !== 0 && (!p.MaximumRetryCount || r.RestartCount < p.MaximumRetryCount);
    default: return false;
  }
}

/** docker's back-off before a restart: 100 ms doubling, reset after 10 s of running. */
export function restartDelay(r: ContainerRecord): number {
  const ran = Date.parse(r.State.FinishedAt) - Date.parse(r.State.StartedAt);
  return ran > 10000 ? 100 : Math.min(100 * 2 ** Math.min(r.RestartCount, 10), 60000);
}

/** Every field of dockerd's HostConfig, zero where unset (clients read Memory, NanoCpus, ... without checking): inspect's shape. */
export function inspectHostConfig(h: HostConfig): Record<string, unknown> {
  const given = Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined));
  return {
    Binds: null, ContainerIDFile: '', LogConfig: { Type: 'json-file', Config: {} }, NetworkMode: 'default', PortBindings: {}, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: false, VolumeDriver: '', VolumesFrom: null, ConsoleSize: [0, 0], CapAdd: null, CapDrop: null, CgroupnsMode: 'private', Dns: [], DnsOptions: [], DnsSearch: [],
    ExtraHosts: null, GroupAdd: null, IpcMode: 'private', Cgroup: '', Links: null, OomScoreAdj: 0, PidMode: '', Privileged: false, PublishAllPorts: false,
    ReadonlyRootfs: false, SecurityOpt: null, UTSMode: '', UsernsMode: '', ShmSize: 64 * 1024 * 1024, Runtime: 'runc', Isolation: '', CpuShares: 0, Memory: 0,
    NanoCpus: 0, CgroupParent: '', BlkioWeight: 0, BlkioWeightDevice: [], BlkioDeviceReadBps: [], BlkioDeviceWriteBps: [], BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [], CpuPeriod: 0, CpuQuota: 0, CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0, CpusetCpus: '', CpusetMems: '', Devices: [],
    DeviceCgroupRules: null, DeviceRequests: null, KernelMemory: 0, KernelMemoryTCP: 0, MemoryReservation: 0, MemorySwap: 0, MemorySwappiness: null,
    OomKillDisable: false, PidsLimit: null, Ulimits: [], CpuCount: 0, CpuPercent: 0, IOMaximumIOps: 0, IOMaximumBandwidth: 0,
    MaskedPaths: h.Privileged ? [] : [...DEFAULT_MASKED_PATHS], ReadonlyPaths: h.Privileged ? [] : [...DEFAULT_READONLY_PATHS],
    ...given,
  };
}
