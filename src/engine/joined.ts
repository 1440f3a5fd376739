// Namespaces shared with another container (--network, --ipc, --pid
// container:NAME): which container a mode names, and the pids whose
// namespaces a start joins.
import { Conflict, InvalidInput } from '../util/check.js';
import type { ContainerRecord } from './records.js';
import type { HostConfig } from './types.js';

/** The modes that can name another container's namespace ("container:NAME"). */
export const JOINABLE = ['NetworkMode', 'IpcMode', 'PidMode'] as const;

/** The container a "container:NAME" mode names (undefined for any other mode); a missing one is refused by the field's name. */
export function modeContainer(h: HostConfig, field: (typeof JOINABLE)[number], get: (ref: string) => ContainerRecord): ContainerRecord | undefined {
  const mode = h[field] ?? '';
  if (!mode.startsWith('container:')) return undefined;
  try { return get(mode.slice(10)); } catch { throw new InvalidInput(`HostConfig.${field}`, `no such container: ${mode.slice(10)}`); }
}

/** --network/--ipc/--pid container:NAME: the running container whose namespace each joins, by its init's pid. */
export function joinedNamespaces(r: ContainerRecord, get: (ref: string) => ContainerRecord): Partial<Record<'network' | 'ipc' | 'pid', number>> {
  const out: Partial<Record<'network' | 'ipc' | 'pid', number>> = {};
  for (const field of JOINABLE) {
    const other = modeContainer(r.HostConfig, field, get);
    if (!other) continue;
    const type = ({ NetworkMode: 'network', IpcMode: 'ipc', PidMode: 'pid' } as const)[field];
    if (other.Id === r.Id) throw new InvalidInput(`HostConfig.${field}`, 'cannot join the container\'s own namespace');
    if (!other.State.Running) throw new Conflict('container', `cannot join the ${type} namespace of ${other.Name.slice(1)}: it is not running`);
    out[type] = other.State.Pid;
  }
  return out;
}
