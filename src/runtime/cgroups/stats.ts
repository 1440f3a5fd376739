// What a container's cgroups say it uses: memory, CPU, pids and block I/O
// (docker stats), and its OOM kills.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { has, type CgroupHost } from './host.js';

/** The directory of the hierarchy that carries controller `c` (v1 first). */
const findDir = (host: CgroupHost, dirs: string[], c: string): string | undefined => {
  const v1 = host.hierarchies.findIndex((h) => h.version === 1 && has(h, c));
  if (v1 >= 0) return dirs[v1];
  const v2 = host.hierarchies.findIndex((h) => h.version === 2 && h.controllers.includes(c));
  return v2 >= 0 ? dirs[v2] : undefined;
};

const readNum = (file: string): number | undefined => {
  try {
    const v = readFileSync(file, 'utf8').trim();
    return v === 'max' ? undefined : Number(v);
  } catch { return undefined; }
};
const readKV = (file: string): Record<string, number> => {
  const out: Record<string, number> = {};
  try {
    for (const l of readFileSync(file, 'utf8').split('\n')) {
      const [k, v] = l.split(/\s+/);
      if (k && v !== undefined) out[k] = Number(v);
    }
  } catch { /* missing controller file */ }
  return out;
};

export interface CgroupStats {
  memory: { usage?: number; maxUsage?: number; limit?: number; oomKill: number; failcnt?: number; cache?: number; rss?: number; inactiveFile?: number };
  cpu: { usageNs?: number; userNs?: number; systemNs?: number; throttledPeriods?: number; throttledNs?: number };
  pids: { current?: number; limit?: number };
  blkio: { readBytes: number; writeBytes: number };
}

/** The memory cgroup's OOM kill count alone (a container's end asks only this). */
export function readOomKills(host: CgroupHost, dirs: string[]): number {
  const mem = findDir(host, dirs, 'memory');
  if (!mem) return 0;
  const v2 = readKV(join(mem, 'memory.events'));
  return (v2.oom_kill ?? readKV(join(mem, 'memory.oom_control')).oom_kill) ?? 0;
}

export function readStats(host: CgroupHost, dirs: string[]): CgroupStats {
  const mem = findDir(host, dirs, 'memory'), cpu = findDir(host, dirs, 'cpu'), acct = findDir(host, dirs, 'cpuacct') ?? cpu;
  const pids = findDir(host, dirs, 'pids'), blk = findDir(host, dirs, 'blkio') ?? findDir(host, dirs, 'io');
  const memV2 = !!mem && existsSync(join(mem, 'memory.current'));
  const s: CgroupStats = { memory: { oomKill: 0 }, cpu: {}, pids: {}, blkio: { readBytes: 0, writeBytes: 0 } };
  if (mem) {
    if (memV2) {
      const ev = readKV(join(mem, 'memory.events')), st = readKV(join(mem, 'memory.stat'));
      Object.assign(s.memory, { usage: readNum(join(mem, 'memory.current')), maxUsage: readNum(join(mem, 'memory.peak')), limit: readNum(join(mem, 'memory.max')), oomKill: ev.oom_kill ?? 0, cache: st.file, rss: st.anon, inactiveFile: st.inactive_file });
    } else {
      const oc = readKV(join(mem, 'memory.oom_control')), st = readKV(join(mem, 'memory.stat'));
      const lim = readNum(join(mem, 'memory.limit_in_bytes'));
      Object.assign(s.memory, {
        usage: readNum(join(mem, 'memory.usage_in_bytes')), maxUsage: readNum(join(mem, 'memory.max_usage_in_bytes')),
        limit: lim !== undefined && lim >= 2 ** 62 ? undefined : lim, oomKill: oc.oom_kill ?? 0,
        failcnt: readNum(join(mem, 'memory.failcnt')), cache: st.cache, rss: st.rss, inactiveFile: st.total_inactive_file,
      });
    }
  }
  if (cpu && existsSync(join(cpu, 'cpu.stat'))) {
    const st = readKV(join(cpu, 'cpu.stat'));
    if (st.usage_usec !== undefined) {
      Object.assign(s.cpu, { usageNs: st.usage_usec * 1000, userNs: st.user_usec * 1000, systemNs: st.system_usec * 1000, throttledPeriods: st.nr_throttled, throttledNs: (st.throttled_usec ?? 0) * 1000 });
    } else {
      Object.assign(s.cpu, { throttledPeriods: st.nr_throttled, throttledNs: st.throttled_time });
    }
  }
  if (acct && existsSync(join(acct, 'cpuacct.usage'))) {
    s.cpu.usageNs = readNum(join(acct, 'cpuacct.usage'));
    const st = readKV(join(acct, 'cpuacct.stat'));
    const hz = 100; // USER_HZ on Linux
    if (st.user !== undefined) { s.cpu.userNs = (st.user * 1e9) / hz; s.cpu.systemNs = (st.system * 1e9) / hz; }
  }
  if (pids) {
    s.pids.current = readNum(join(pids, 'pids.current'));
    s.pids.limit = readNum(join(pids, 'pids.max'));
  }
  if (blk) {
    if (existsSync(join(blk, 'io.stat'))) {
      for (const l of readFileSync(join(blk, 'io.stat'), 'utf8').split('\n')) {
        s.blkio.readBytes += Number(/rbytes=(\d+)/.exec(l)?.[1] ?? 0);
        s.blkio.writeBytes += Number(/wbytes=(\d+)/.exec(l)?.[1] ?? 0);
      }
    } else {
      try {
        for (const l of readFileSync(join(blk, 'blkio.throttle.io_service_bytes'), 'utf8').split('\n')) {
          const [, op, v] = l.split(' ');
          if (op === 'Read') s.blkio.readBytes += Number(v);
          if (op === 'Write') s.blkio.writeBytes += Number(v);
        }
      } catch { /* no blkio stats */ }
    }
  }
  return s;
}
