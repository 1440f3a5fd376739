// What comes out of a running container and goes into it: logs, attach,
// exec, top, stats.
import { Command } from 'commander';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { jsonLines, type ApiClient } from '../client.js';
import { binaryUnits, formatList, table, units, unixTime } from '../format.js';
import { SIG_PROXY, collect, queued, demux, pumpStreams, proxySignals } from './shared.js';

export function registerIo(parent: Command, api: () => ApiClient): void {
  parent.command('logs').argument('<container>').description('fetch a container\'s logs')
    .option('-f, --follow', 'follow the output').option('-n, --tail <n>', 'lines from the end', 'all')
    .option('--since <t>', 'since a time (unix seconds, RFC 3339, or a duration before now: 10m)').option('--until <t>', 'until a time (as --since)').option('-t, --timestamps', 'show timestamps')
    .option('--details', 'the log\'s extra attributes before each line (berth keeps none: a space, as docker prints)')
    .action(async (id: string, o: { follow?: boolean; tail: string; since?: string; until?: string; timestamps?: boolean; details?: boolean }) => {
      const a = api();
      const c = await a.call<{ Config: { Tty: boolean } }>('GET', `/containers/${id}/json`);
      const res = await a.stream('GET', `/containers/${id}/logs?stdout=1&stderr=1&follow=${o.follow ? 1 : 0}&tail=${o.tail}&timestamps=${o.timestamps ? 1 : 0}${o.details ? '&details=1' : ''}${o.since ? `&since=${unixTime(o.since, '--since')}` : ''}${o.until ? `&until=${unixTime(o.until, '--until')}` : ''}`);
      if (c.Config.Tty) { for await (const d of res) if (!process.stdout.write(d as Buffer)) await once(process.stdout, 'drain'); return; }
      await demux(res as unknown as Socket, queued(res as unknown as Socket));
    });
  parent.command('attach').argument('<container>').description('attach to a running container\'s stdio')
    .option('--no-stdin', 'do not attach stdin').option(...SIG_PROXY)
    .action(async (id: string, o: { stdin: boolean; sigProxy?: boolean }) => {
      const a = api();
      const c = await a.call<{ Id: string; Config: { Tty: boolean; OpenStdin: boolean } }>('GET', `/containers/${id}/json`);
      const stdin = o.stdin && c.Config.OpenStdin;
      const sock = await a.hijack('POST', `/containers/${c.Id}/attach?stream=1&stdin=${stdin ? 1 : 0}&stdout=1&stderr=1`, undefined, !stdin);
      const unproxy = proxySignals(a, c.Id, o.sigProxy, c.Config.Tty);
      try { await pumpStreams(a, sock, c.Config.Tty, stdin, `/containers/${c.Id}/resize`); } finally { unproxy(); }
      const st = await a.call<{ State: { Running: boolean; ExitCode: number } }>('GET', `/containers/${c.Id}/json`);
      if (!st.State.Running) process.exitCode = st.State.ExitCode;
    });
  parent.command('exec').argument('<container>').argument('<command...>').description('run a command in a running container')
    .option('-i, --interactive', 'keep STDIN open').option('-t, --tty', 'allocate a pseudo-TTY').option('-d, --detach', 'run in the background')
    .option('-e, --env <K=V>', 'environment variable', collect).option('-u, --user <user>', 'user').option('-w, --workdir <dir>', 'working directory')
    .option('--privileged', 'extended privileges')
    .passThroughOptions()
    .action(async (id: string, cmd: string[], o: { interactive?: boolean; tty?: boolean; detach?: boolean; env?: string[]; user?: string; workdir?: string; privileged?: boolean }) => {
      const a = api();
      const x = await a.call<{ Id: string }>('POST', `/containers/${id}/exec`, {
        Cmd: cmd, Tty: !!o.tty, AttachStdin: !!o.interactive && !o.detach, AttachStdout: !o.detach, AttachStderr: !o.detach,
        Env: o.env ?? [], User: o.user ?? '', WorkingDir: o.workdir ?? '', Privileged: !!o.privileged,
      });
      if (o.detach) { await a.call('POST', `/exec/${x.Id}/start`, { Detach: true, Tty: !!o.tty }); return; }
      const sock = await a.hijack('POST', `/exec/${x.Id}/start`, { Detach: false, Tty: !!o.tty }, !o.interactive);
      await pumpStreams(a, sock, !!o.tty, !!o.interactive, `/exec/${x.Id}/resize`);
      process.exitCode = (await a.call<{ ExitCode: number | null }>('GET', `/exec/${x.Id}/json`)).ExitCode ?? 0;
    });
  parent.command('top').argument('<container>').argument('[ps-options...]').description('processes of a container')
    .action(async (id: string, args: string[]) => {
      const t = await api().call<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${id}/top${args.length ? `?ps_args=${encodeURIComponent(args.join(' '))}` : ''}`);
      process.stdout.write(table([t.Titles, ...t.Processes], 20)); // docker's top pads to twenty
    });
  parent.command('stats').argument('[containers...]').description('resource usage (all running containers without arguments)')
    .option('--no-stream', 'one sample, then exit').option('-a, --all', 'stopped containers too').option('--format <tpl>', 'Go-template-like format ({{.Name}}, {{.CPUPerc}}, {{.MemUsage}}, ...)')
    .action(async (ids: string[], o: { stream: boolean; all?: boolean; format?: string }) => {
      const a = api();
      if (!ids.length) ids = (await a.call<{ Id: string }[]>('GET', `/containers/json${o.all ? '?all=1' : ''}`)).map((c) => c.Id);
      const header = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];
      if (!o.stream) {
        // the daemon takes two samples a second apart, so CPU % is of that second
        const all = await Promise.all(ids.map((id) => a.call<Sample>('GET', `/containers/${id}/stats?stream=false`)));
        if (o.format) {
          // docker's fields for stats templates
          const fields = all.map(statsRow).map(([ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs], i) => ({ Container: ids[i], ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs }));
          process.stdout.write(formatList(o.format, fields, { ID: 'CONTAINER ID', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', Container: 'CONTAINER' }));
          return;
        }
        process.stdout.write(table([header, ...all.map(statsRow)]));
        return;
      }
      const latest = new Map<string, Sample>();
      const tty = process.stdout.isTTY;
      const print = () => process.stdout.write(`${tty ? '\x1b[2J\x1b[H' : ''}${table([header, ...ids.filter((id) => latest.has(id)).map((id) => statsRow(latest.get(id)!))])}`);
      const timer = setInterval(print, 1000);
      await Promise.all(ids.map(async (id) => {
        for await (const sample of jsonLines<Sample>(await a.raw('GET', `/containers/${id}/stats?stream=true`))) latest.set(id, sample);
      }));
      clearInterval(timer);
      print();
    });
  // `inspect` names a container or an image, as docker's; `container inspect` only containers
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Sample = Record<string, any>;

/** A docker stats row: CPU % over the sample's interval, memory less the inactive page cache, as docker's CLI reckons them. */
function statsRow(s: Sample): string[] {
  const cpu = s.cpu_stats ?? {}, pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const cpuPct = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * (cpu.online_cpus || 1) * 100 : 0;
  const m = s.memory_stats ?? {};
  const mem = Math.max(0, (m.usage ?? 0) - (m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0));
  const lim = m.limit ?? 0;
  const io = (op: string) => ((s.blkio_stats?.io_service_bytes_recursive ?? []) as { op: string; value: number }[]).filter((x) => x.op.toLowerCase() === op).reduce((n, x) => n + x.value, 0);
  const nets = Object.values(s.networks ?? {}) as { rx_bytes: number; tx_bytes: number }[];
  const rx = nets.reduce((n, x) => n + x.rx_bytes, 0), tx = nets.reduce((n, x) => n + x.tx_bytes, 0);
  return [
    String(s.id).slice(0, 12), String(s.name).replace(/^\//, ''), `${cpuPct.toFixed(2)}%`, `${binaryUnits(mem)} / ${binaryUnits(lim)}`,
    `${lim ? ((mem / lim) * 100).toFixed(2) : '0.00'}%`, `${units(rx)} / ${units(tx)}`, `${units(io('read'))} / ${units(io('write'))}`, String(s.pids_stats?.current ?? 0),
  ];
}
