// The cgroup v1 files a container's resources are written to, and their
// values (memory, cpu, block I/O; the other controllers are one file each
// and written by plan.ts). Data only: nothing here touches the host.
import type { Resources } from '../config.js';

/** Records one write to the hierarchy's file: the file's name, its value, and the config field it comes from. */
export type Write = (file: string, value: string | number | bigint, field: string, or?: string) => void;

/** -1 (no limit) for a negative limit, else the limit. */
const limitOf = (v: bigint | undefined) => (v === undefined ? undefined : v < 0n ? '-1' : v);

export function memoryV1(w: Write, mem: NonNullable<Resources['memory']>): void {
  if (mem.limit !== undefined) w('memory.limit_in_bytes', limitOf(mem.limit)!, 'memory.limit');
  if (mem.swap !== undefined) w('memory.memsw.limit_in_bytes', limitOf(mem.swap)!, 'memory.swap');
  if (mem.reservation !== undefined) w('memory.soft_limit_in_bytes', limitOf(mem.reservation)!, 'memory.reservation');
  if (mem.swappiness !== undefined) w('memory.swappiness', mem.swappiness, 'memory.swappiness');
  if (mem.disableOOMKiller) w('memory.oom_control', 1, 'memory.disableOOMKiller');
}

export function cpuV1(w: Write, cpu: NonNullable<Resources['cpu']>): void {
  if (cpu.shares) w('cpu.shares', cpu.shares, 'cpu.shares');
  if (cpu.period) w('cpu.cfs_period_us', cpu.period, 'cpu.period');
  if (cpu.quota !== undefined) w('cpu.cfs_quota_us', cpu.quota <= 0 ? -1 : cpu.quota, 'cpu.quota');
  if (cpu.realtimePeriod) w('cpu.rt_period_us', cpu.realtimePeriod, 'cpu.realtimePeriod');
  if (cpu.realtimeRuntime !== undefined) w('cpu.rt_runtime_us', cpu.realtimeRuntime, 'cpu.realtimeRuntime');
}

export function blockIOV1(w: Write, bio: NonNullable<Resources['blockIO']>): void {
  if (bio.weight) w('blkio.weight', bio.weight, 'blockIO.weight', 'blkio.bfq.weight');
  if (bio.leafWeight) w('blkio.leaf_weight', bio.leafWeight, 'blockIO.leafWeight');
  for (const d of bio.weightDevice) if (d.weight) w('blkio.weight_device', `${d.major}:${d.minor} ${d.weight}`, 'blockIO.weightDevice');
  const t = (list: typeof bio.throttleReadBpsDevice, file: string) => list.forEach((d) => w(file, `${d.major}:${d.minor} ${d.rate}`, 'blockIO'));
  t(bio.throttleReadBpsDevice, 'blkio.throttle.read_bps_device'); t(bio.throttleWriteBpsDevice, 'blkio.throttle.write_bps_device');
  t(bio.throttleReadIOPSDevice, 'blkio.throttle.read_iops_device'); t(bio.throttleWriteIOPSDevice, 'blkio.throttle.write_iops_device');
}
