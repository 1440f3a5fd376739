// A create body over its image's config: the container's Config as docker
// makes it (the body's fields win; an entrypoint given drops the image's
// Cmd; Env merged by name; labels, volumes and ports merged), and an
// update body over a HostConfig. Pure data.
import { DockerWords, InvalidInput } from '../util/check.js';
import { mergeEnv } from './exec.js';
import { checkCreateBody, checkHostConfig } from './validate.js';
import type { ContainerConfig, HostConfig } from './types.js';

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
