// The cgroup v2 files a container's resources are written to, and their
// values (memory, cpu, io). Data only: nothing here touches the host.
import { InvalidInput } from '../../util/check.js';
import type { Resources } from '../config.js';
import type { Write } from './v1.js';

/** "max" (no limit) for a negative limit, else the limit. */
const limitOf = (v: bigint | undefined) => (v === undefined ? undefined : v < 0n ? 'max' : v);

function sharesToWeight(shares: number): number {
  // the conversion runc and crun use: [2, 262144] -> [1, 10000]
  return shares === 0 ? 0 : Math.max(1, Math.min(10000, 1 + Math.floor(((shares - 2) * 9999) / 262142)));
}

export function memoryV2(w: Write, mem: NonNullable<Resources['memory']>): void {
  if (mem.limit !== undefined) w('memory.max', limitOf(mem.limit)!, 'memory.limit');
  if (mem.swap !== undefined) {
    // OCI swap is memory+swap; v2 counts swap alone
    const swap = mem.swap < 0n ? 'max' : mem.limit !== undefined && mem.limit > 0n ? mem.swap - mem.limit : mem.swap;
    if (typeof swap === 'bigint' && swap < 0n) throw new InvalidInput('linux.resources.memory.swap', 'must not be below memory.limit');
    w('memory.swap.max', swap, 'memory.swap');
  }
  if (mem.reservation !== undefined) w('memory.low', limitOf(mem.reservation)!, 'memory.reservation');
  if (mem.disableOOMKiller) throw new InvalidInput('linux.resources.memory.disableOOMKiller', 'cgroup v2 has no way to disable the OOM killer');
}

export function cpuV2(w: Write, cpu: NonNullable<Resources['cpu']>): void {
  if (cpu.shares) w('cpu.weight', sharesToWeight(cpu.shares), 'cpu.shares');
  if (cpu.quota !== undefined || cpu.period !== undefined) {
    w('cpu.max', `${cpu.quota === undefined || cpu.quota <= 0 ? 'max' : cpu.quota} ${cpu.period ?? 100000}`, 'cpu.quota');
  }
  if (cpu.idle !== undefined) w('cpu.idle', cpu.idle, 'cpu.idle');
}

export function blockIOV2(w: Write, bio: NonNullable<Resources['blockIO']>): void {
  if (bio.weight) w('io.bfq.weight', `default ${bio.weight}`, 'blockIO.weight', 'io.weight');
  for (const d of bio.weightDevice) if (d.weight) w('io.weight', `${d.major}:${d.minor} ${d.weight}`, 'blockIO.weightDevice');
  const io = new Map<string, string[]>();
  const add = (list: typeof bio.throttleReadBpsDevice, key: string) => list.forEach((d) => {
    const k = `${d.major}:${d.minor}`;
    io.set(k, [...(io.get(k) ?? []), `${key}=${d.rate}`]);
  });
  add(bio.throttleReadBpsDevice, 'rbps'); add(bio.throttleWriteBpsDevice, 'wbps');
  add(bio.throttleReadIOPSDevice, 'riops'); add(bio.throttleWriteIOPSDevice, 'wiops');
  for (const [dev, kv] of io) w('io.max', `${dev} ${kv.join(' ')}`, 'blockIO');
}
