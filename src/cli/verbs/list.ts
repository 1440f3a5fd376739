// ps (and container ls), and container prune.
import { Command } from 'commander';
import { ageOf } from '../../util/duration.js';
import type { ApiClient } from '../client.js';
import { formatList, table, units } from '../format.js';
import { collect, deletedList, filtersParam } from './shared.js';

export function registerList(program: Command, container: Command, api: () => ApiClient): void {
  const ps = async (opts: { all?: boolean; quiet?: boolean; last?: string; latest?: boolean; filter?: string[]; trunc?: boolean; format?: string }) => {
    const o = { ...opts, noTrunc: opts.trunc === false }; // commander's --no-trunc is trunc: false
    const limit = o.latest ? 1 : o.last ? Number(o.last) : 0;
    const list = await api().call<{ Id: string; Names: string[]; Image: string; Command: string; Created: number; Status: string; State: string; Labels: Record<string, string> }[]>('GET', `/containers/json?all=${o.all ? 1 : 0}${limit ? `&limit=${limit}` : ''}&filters=${filtersParam(o.filter)}`);
    if (o.quiet) { process.stdout.write(list.map((c) => `${o.noTrunc ? c.Id : c.Id.slice(0, 12)}\n`).join('')); return; }
    if (o.format) {
      const rows = list.map((c) => ({ ID: o.noTrunc ? c.Id : c.Id.slice(0, 12), Names: c.Names.map((n) => n.slice(1)).join(','), Image: c.Image, Command: `"${c.Command}"`, Status: c.Status, State: c.State, Labels: Object.entries(c.Labels).map(([k, v]) => `${k}=${v}`).join(','), CreatedAt: new Date(c.Created * 1000).toISOString() }));
      process.stdout.write(formatList(o.format, rows, { ID: 'CONTAINER ID', CreatedAt: 'CREATED AT' }));
      return;
    }
    const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
    for (const c of list) {
      const cmd = o.noTrunc ? c.Command : c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command;
      rows.push([o.noTrunc ? c.Id : c.Id.slice(0, 12), c.Image, `"${cmd}"`, `${ageOf(c.Created)} ago`, c.Status, '', c.Names.map((n) => n.slice(1)).join(',')]);
    }
    process.stdout.write(table(rows));
  };
  for (const cmd of [program.command('ps'), container.command('ls').alias('list')]) {
    cmd.description('list containers').option('-a, --all', 'show all, not only running').option('-q, --quiet', 'only IDs')
      .option('-n, --last <n>', 'the n last created').option('-l, --latest', 'the latest created').option('--filter <K=V>', 'filter', collect)
      .option('--no-trunc', 'do not truncate').option('--format <tpl>', 'Go-template-like format').action(ps);
  }
  container.command('prune').description('remove all stopped containers').option('-f, --force', 'do not ask')
    .action(async () => {
      const r = await api().call<{ ContainersDeleted: string[]; SpaceReclaimed: number }>('POST', '/containers/prune');
      process.stdout.write(`${deletedList('Containers', r.ContainersDeleted)}Total reclaimed space: ${units(r.SpaceReclaimed)}\n`);
    });
}
