// inspect (any object, or containers under `container`) and port.
import { Command } from 'commander';
import { DaemonError, type ApiClient } from '../client.js';
import { NoSuchObject, inspectEach } from './shared.js';

export function registerInspect(parent: Command, program: Command, api: () => ApiClient): void {
  const generic = parent === program;
  parent.command('inspect').argument(generic ? '<objects...>' : '<containers...>').description('low-level information').option('-f, --format <tpl>', 'Go-template-like format')
    .action((ids: string[], o: { format?: string }) => inspectEach(ids, o.format, async (id) => {
      try { return await api().call('GET', `/containers/${encodeURIComponent(id)}/json`); } catch (e) {
        if (!generic || !(e instanceof DaemonError) || e.status !== 404) throw e;
        try { return await api().call('GET', `/images/${encodeURIComponent(id)}/json`); } catch (e2) {
          throw e2 instanceof DaemonError && e2.status === 404 ? new NoSuchObject(`No such object: ${id}`) : e2;
        }
      }
    }));
  parent.command('port').argument('<container>').argument('[private-port]', 'PORT[/PROTO]').description('the container\'s published ports')
    .action(async (id: string, port: string | undefined) => {
      type Binding = { HostIp: string; HostPort: string };
      const c = await api().call<{ Name: string; NetworkSettings: { Ports: Record<string, Binding[] | null> } }>('GET', `/containers/${id}/json`);
      const ports = Object.entries(c.NetworkSettings.Ports ?? {}).filter((e): e is [string, Binding[]] => !!e[1]?.length);
      const show = (b: Binding) => `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp || '0.0.0.0'}:${b.HostPort}`;
      if (port === undefined) {
        process.stdout.write(ports.flatMap(([p, bs]) => bs.map((b) => `${p} -> ${show(b)}\n`)).join(''));
        return;
      }
      if (!/^\d+(\/(tcp|udp|sctp))?$/.test(port)) throw new Error(`invalid port "${port}": expected PORT or PORT/PROTO (tcp, udp, sctp)`);
      const key = port.includes('/') ? port : `${port}/tcp`;
      const found = ports.find(([p]) => p === key);
      if (!found) {
        process.stderr.write(`Error: No public port '${port}' published for ${c.Name.replace(/^\//, '')}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(found[1].map((b) => `${show(b)}\n`).join(''));
    });
}
