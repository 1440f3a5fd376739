// network ls, inspect, create, connect, disconnect, rm, prune.
import { Command } from 'commander';
import type { ApiClient } from '../client.js';
import { formatList, table } from '../format.js';
import { inspectEach, deletedList, each } from './shared.js';

export function registerNetworks(program: Command, api: () => ApiClient): void {
  const network = program.command('network').description('manage networks (berth has none and host; bridges come later)');
  network.command('ls').alias('list').option('-q, --quiet', 'only IDs').option('--no-trunc', 'full IDs').option('--format <tpl>', 'Go-template-like format')
    .action(async (o: { quiet?: boolean; trunc?: boolean; format?: string }) => {
      const nets = await api().call<{ Id: string; Name: string; Driver: string; Scope: string }[]>('GET', '/networks');
      const rows = nets.map((n) => ({ ID: o.trunc === false ? n.Id : n.Id.slice(0, 12), Name: n.Name, Driver: n.Driver, Scope: n.Scope })).sort((a, b) => a.Name.localeCompare(b.Name));
      if (o.quiet) { process.stdout.write(rows.map((r) => `${r.ID}\n`).join('')); return; }
      if (o.format) { process.stdout.write(formatList(o.format, rows, { ID: 'NETWORK ID' })); return; }
      process.stdout.write(table([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...rows.map((r) => [r.ID, r.Name, r.Driver, r.Scope])]));
    });
  network.command('inspect').argument('<networks...>').option('-f, --format <tpl>', 'format')
    .action((ids: string[], o: { format?: string }) => inspectEach(ids, o.format, (id) => api().call('GET', `/networks/${encodeURIComponent(id)}`)));
  network.command('create').argument('<name>').option('-d, --driver <d>', 'driver', 'bridge')
    .action(async (name: string, o: { driver: string }) => { await api().call('POST', '/networks/create', { Name: name, Driver: o.driver }); });
  for (const verb of ['connect', 'disconnect']) {
    network.command(verb).argument('<network>').argument('<container>')
      .action(async (net: string, ctr: string) => { await api().call('POST', `/networks/${encodeURIComponent(net)}/${verb}`, { Container: ctr }); });
  }
  network.command('rm').alias('remove').argument('<networks...>').description('remove networks')
    .action(each((id) => api().call('DELETE', `/networks/${encodeURIComponent(id)}`)));
  network.command('prune').option('-f, --force', 'do not ask (berth never asks)').description('remove unused networks')
    .action(async () => {
      const r = await api().call<{ NetworksDeleted: string[] }>('POST', '/networks/prune');
      if (r.NetworksDeleted.length) process.stdout.write(deletedList('Networks', r.NetworksDeleted).trimEnd() + '\n');
    });
}
