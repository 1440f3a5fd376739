// berth as a whole: system df, events, info.
import { Command } from 'commander';
import { jsonLines, type ApiClient } from '../client.js';
import { formatGo, formatList, rfc3339NanoFixed, table, units, unixTime } from '../format.js';
import { collect, filtersParam } from './shared.js';

export function registerSystem(program: Command, api: () => ApiClient): void {
  program.command('system').description('berth as a whole').command('df').description('disk use').option('-v, --verbose', 'each image, container and volume')
    .action(async (o: { verbose?: boolean }) => {
      type Img = { Id: string; RepoTags: string[]; Size: number; SharedSize: number; Containers: number };
      type Ctr = { Id: string; Names: string[]; Image: string; State: string; Status: string; SizeRw: number; Mounts: { Type: string }[] };
      type Vol = { Name: string; UsageData: { Size: number; RefCount: number } };
      const df = await api().call<{ LayersSize: number; Images: Img[]; Containers: Ctr[]; Volumes: Vol[] }>('GET', '/system/df');
      const size = (n: number) => units(n, 4);
      const share = (part: number, whole: number) => (whole > 0 ? `${size(part)} (${Math.floor((part * 100) / whole)}%)` : size(part));
      const usedImages = df.Images.filter((i) => i.Containers > 0);
      const ctrSize = df.Containers.reduce((n, c) => n + c.SizeRw, 0);
      const volSize = df.Volumes.reduce((n, v) => n + v.UsageData.Size, 0);
      process.stdout.write(table([
        ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
        ['Images', String(df.Images.length), String(usedImages.length), size(df.LayersSize), share(df.LayersSize - usedImages.reduce((n, i) => n + i.Size - i.SharedSize, 0), df.LayersSize)],
        ['Containers', String(df.Containers.length), String(df.Containers.filter((c) => c.State === 'running').length), size(ctrSize), share(df.Containers.filter((c) => c.State !== 'running').reduce((n, c) => n + c.SizeRw, 0), ctrSize)],
        ['Local Volumes', String(df.Volumes.length), String(df.Volumes.filter((v) => v.UsageData.RefCount > 0).length), size(volSize), share(df.Volumes.filter((v) => v.UsageData.RefCount === 0).reduce((n, v) => n + v.UsageData.Size, 0), volSize)],
        ['Build Cache', '0', '0', '0B', '0B'],
      ]));
      if (!o.verbose) return;
      process.stdout.write(`\nImages space usage:\n\n${table([['REPOSITORY:TAG', 'IMAGE ID', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
        ...df.Images.map((i) => [i.RepoTags.join(', ') || '<none>', i.Id.replace(/^sha256:/, '').slice(0, 12), size(i.Size), size(i.SharedSize), size(i.Size - i.SharedSize), String(i.Containers)])])}`);
      process.stdout.write(`\nContainers space usage:\n\n${table([['CONTAINER ID', 'IMAGE', 'LOCAL VOLUMES', 'SIZE', 'STATUS', 'NAMES'],
        ...df.Containers.map((c) => [c.Id.slice(0, 12), c.Image, String(c.Mounts.filter((m) => m.Type === 'volume').length), size(c.SizeRw), c.Status, c.Names[0]!.replace(/^\//, '')])])}`);
      process.stdout.write(`\nLocal Volumes space usage:\n\n${table([['VOLUME NAME', 'LINKS', 'SIZE'], ...df.Volumes.map((v) => [v.Name, String(v.UsageData.RefCount), size(v.UsageData.Size)])])}`);
    });
  program.command('events').description('stream the daemon\'s events').option('--filter <K=V>', 'filter', collect)
    .option('--since <t>', 'from this time on, past events included (unix seconds, RFC 3339, or a duration before now: 10m)').option('--until <t>', 'stop at this time (as --since)')
    .option('--format <tpl>', 'Go-template-like format ({{.Type}}, {{.Action}}, {{.Actor.ID}}, {{json .}})')
    .action(async (o: { filter?: string[]; since?: string; until?: string; format?: string }) => {
      const range = `${o.since ? `&since=${unixTime(o.since, '--since')}` : ''}${o.until ? `&until=${unixTime(o.until, '--until')}` : ''}`;
      type Event = { Type: string; Action: string; timeNano: number; Actor: { ID: string; Attributes: Record<string, string> } };
      for await (const e of jsonLines<Event>(await api().raw('GET', `/events?filters=${filtersParam(o.filter)}${range}`))) {
        if (o.format) { process.stdout.write(formatList(o.format, [e], {})); continue; }
        // docker's line: its fixed-width time, and the attributes in key order
        const attrs = Object.entries(e.Actor.Attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(', ');
        process.stdout.write(`${rfc3339NanoFixed(e.timeNano)} ${e.Type} ${e.Action} ${e.Actor.ID} (${attrs})\n`);
      }
    });
  program.command('info').description('system-wide information').option('-f, --format <tpl>', 'format')
    .action(async (o: { format?: string }) => {
      const i = await api().call<Record<string, unknown>>('GET', '/info');
      if (o.format) { process.stdout.write(`${formatGo(o.format, i)}\n`); return; }
      for (const k of ['Containers', 'ContainersRunning', 'ContainersPaused', 'ContainersStopped', 'Images', 'ServerVersion', 'Driver', 'CgroupVersion', 'KernelVersion', 'OperatingSystem', 'NCPU', 'MemTotal', 'DockerRootDir']) {
        process.stdout.write(`${k}: ${String(i[k])}\n`);
      }
    });
}
