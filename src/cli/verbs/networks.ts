// network ls, inspect, create, connect, disconnect, rm, prune.
import { Command } from 'commander';
import type { ApiClient } from '../client.js';
import { formatList, table } from '../format.js';
import { inspectEach, deletedList, each } from './shared.js';

export function registerNetworks(program: Command, api: () => ApiClient): void {
  const network = program.command('network').description('manage networks: the default bridge, host, none, and bridges of your own');
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
  const many = (v: string, prev: string[] = []) => [...prev, v];
  network.command('create').argument('<name>').option('-d, --driver <d>', 'driver', 'bridge')
    .option('--subnet <cidr>', 'subnet', many).option('--gateway <ip>', 'gateway', many).option('--ip-range <cidr>', 'where addresses are leased from', many)
    .option('--internal', 'no way out of the network').option('--attachable', 'accepted (local networks are)').option('--ipv6', 'enable IPv6')
    .option('--label <k=v>', 'label', many).option('-o, --opt <k=v>', 'driver option (com.docker.network.bridge.name, com.docker.network.driver.mtu)', many)
    .action(async (name: string, o: { driver: string; subnet?: string[]; gateway?: string[]; ipRange?: string[]; internal?: boolean; attachable?: boolean; ipv6?: boolean; label?: string[]; opt?: string[] }) => {
      const kv = (list: string[] = []) => Object.fromEntries(list.map((x) => { const i = x.indexOf('='); return i < 0 ? [x, ''] : [x.slice(0, i), x.slice(i + 1)]; }));
      const config = (o.subnet ?? []).map((Subnet, i) => ({ Subnet, ...(o.gateway?.[i] ? { Gateway: o.gateway[i] } : {}), ...(o.ipRange?.[i] ? { IPRange: o.ipRange[i] } : {}) }));
      const r = await api().call<{ Id: string }>('POST', '/networks/create', {
        Name: name, Driver: o.driver, Internal: !!o.internal, Attachable: !!o.attachable, EnableIPv6: !!o.ipv6,
        IPAM: { Driver: 'default', Config: config }, Labels: kv(o.label), Options: kv(o.opt),
      });
      process.stdout.write(`${r.Id}\n`);
    });
  network.command('connect').argument('<network>').argument('<container>').option('--alias <name>', 'network alias', many).option('--ip <ip>', 'IPv4 address').option('--ip6 <ip>', 'IPv6 address')
    .action(async (net: string, ctr: string, o: { alias?: string[]; ip?: string; ip6?: string }) => {
      const ipam = { ...(o.ip ? { IPv4Address: o.ip } : {}), ...(o.ip6 ? { IPv6Address: o.ip6 } : {}) };
      await api().call('POST', `/networks/${encodeURIComponent(net)}/connect`, { Container: ctr, EndpointConfig: { Aliases: o.alias ?? [], ...(o.ip || o.ip6 ? { IPAMConfig: ipam } : {}) } });
    });
  network.command('disconnect').argument('<network>').argument('<container>').option('-f, --force', 'force')
    .action(async (net: string, ctr: string, o: { force?: boolean }) => { await api().call('POST', `/networks/${encodeURIComponent(net)}/disconnect`, { Container: ctr, Force: !!o.force }); });
  network.command('rm').alias('remove').argument('<networks...>').description('remove networks')
    .action(each((id) => api().call('DELETE', `/networks/${encodeURIComponent(id)}`)));
  network.command('prune').option('-f, --force', 'do not ask (berth never asks)').description('remove unused networks')
    .action(async () => {
      const r = await api().call<{ NetworksDeleted: string[] }>('POST', '/networks/prune');
      if (r.NetworksDeleted.length) process.stdout.write(deletedList('Networks', r.NetworksDeleted).trimEnd() + '\n');
    });
}
