// volume create, ls, inspect, rm, prune.
import { Command } from 'commander';
import type { ApiClient } from '../client.js';
import { table, units } from '../format.js';
import { collect, keyValues, inspectEach, deletedList, filtersParam } from './shared.js';

export function registerVolumes(program: Command, api: () => ApiClient): void {
  const volume = program.command('volume').description('manage volumes');
  volume.command('create').argument('[name]').option('-l, --label <K=V>', 'label', collect).option('-d, --driver <d>', 'driver', 'local')
    .action(async (name: string | undefined, o: { label?: string[]; driver: string }) => {
      const v = await api().call<{ Name: string }>('POST', '/volumes/create', { Name: name ?? '', Labels: keyValues(o.label), Driver: o.driver });
      process.stdout.write(`${v.Name}\n`);
    });
  volume.command('ls').alias('list').option('-q, --quiet', 'only names').option('--filter <K=V>', 'filter', collect)
    .action(async (o: { quiet?: boolean; filter?: string[] }) => {
      const r = await api().call<{ Volumes: { Name: string; Driver: string }[] }>('GET', `/volumes?filters=${filtersParam(o.filter)}`);
      if (o.quiet) { process.stdout.write(r.Volumes.map((v) => `${v.Name}\n`).join('')); return; }
      process.stdout.write(table([['DRIVER', 'VOLUME NAME'], ...r.Volumes.map((v) => [v.Driver, v.Name])]));
    });
  volume.command('inspect').argument('<names...>').option('-f, --format <tpl>', 'format')
    .action((names: string[], o: { format?: string }) => inspectEach(names, o.format, (n) => api().call('GET', `/volumes/${encodeURIComponent(n)}`)));
  volume.command('rm').alias('remove').argument('<names...>').option('-f, --force', 'force')
    .action(async (names: string[]) => {
      for (const n of names) {
        try { await api().call('DELETE', `/volumes/${encodeURIComponent(n)}`); process.stdout.write(`${n}\n`); } catch (e) {
          process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
          process.exitCode = 1;
        }
      }
    });
  volume.command('prune').option('-a, --all', 'named volumes too').option('-f, --force', 'do not ask')
    .action(async (o: { all?: boolean }) => {
      const r = await api().call<{ VolumesDeleted: string[]; SpaceReclaimed: number }>('POST', `/volumes/prune${o.all ? `?filters=${encodeURIComponent('{"all":["true"]}')}` : ''}`);
      process.stdout.write(`${deletedList('Volumes', r.VolumesDeleted)}Total reclaimed space: ${units(r.SpaceReclaimed)}\n`);
    });

  // the daemon's GET /system/df, in docker's table (sizes with 4 digits, as docker system df shows them)
}
