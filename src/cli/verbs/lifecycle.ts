// The verbs that change a container's state, each over several containers as
// docker's: start, stop, restart, kill, rm, pause, unpause, wait, update, rename.
import { Command } from 'commander';
import { DaemonError, type ApiClient } from '../client.js';
import { SIG_PROXY, addResourceOptions, resourceFields, pumpStreams, proxySignals, each, type ResourceOpts } from './shared.js';

export function registerLifecycle(parent: Command, api: () => ApiClient): void {
  parent.command('start').argument('<containers...>').description('start stopped containers')
    .option('-a, --attach', 'attach stdout/stderr').option('-i, --interactive', 'attach stdin').option(...SIG_PROXY)
    .action(async (ids: string[], o: { attach?: boolean; interactive?: boolean; sigProxy?: boolean }) => {
      if (!o.attach && !o.interactive) return each((id) => api().call('POST', `/containers/${id}/start`), 'failed to start containers')(ids, {});
      const a = api();
      const c = await a.call<{ Id: string; Config: { Tty: boolean } }>('GET', `/containers/${ids[0]}/json`);
      const sock = await a.hijack('POST', `/containers/${c.Id}/attach?stream=1&stdin=${o.interactive ? 1 : 0}&stdout=1&stderr=1`, undefined, !o.interactive);
      const waitRes = a.call<{ StatusCode: number }>('POST', `/containers/${c.Id}/wait?condition=next-exit`);
      const unproxy = proxySignals(a, c.Id, o.sigProxy, c.Config.Tty);
      try {
        await a.call('POST', `/containers/${c.Id}/start`);
        await pumpStreams(a, sock, c.Config.Tty, !!o.interactive, `/containers/${c.Id}/resize`);
        process.exitCode = (await waitRes).StatusCode;
      } finally {
        unproxy();
      }
    });
  parent.command('stop').argument('<containers...>').description('stop running containers')
    .option('-t, --time <s>', 'seconds to wait before killing').option('-s, --signal <sig>', 'signal to send')
    .action(each((id, o) => api().call('POST', `/containers/${id}/stop?${o.time !== undefined ? `t=${o.time}&` : ''}${o.signal ? `signal=${o.signal}` : ''}`)));
  parent.command('restart').argument('<containers...>').description('restart containers')
    .option('-t, --time <s>', 'seconds to wait before killing')
    .action(each((id, o) => api().call('POST', `/containers/${id}/restart${o.time !== undefined ? `?t=${o.time}` : ''}`)));
  parent.command('kill').argument('<containers...>').description('send a signal (default SIGKILL)')
    .option('-s, --signal <sig>', 'signal', 'KILL')
    .action(each((id, o) => api().call('POST', `/containers/${id}/kill?signal=${o.signal}`)));
  parent.command('rm').argument('<containers...>').description('remove containers')
    .option('-f, --force', 'kill a running container first').option('-v, --volumes', 'remove its anonymous volumes')
    .action(each((id, o) => api().call('DELETE', `/containers/${id}?force=${o.force ? 1 : 0}&v=${o.volumes ? 1 : 0}`)));
  parent.command('pause').argument('<containers...>').description('freeze all processes')
    .action(each((id) => api().call('POST', `/containers/${id}/pause`)));
  parent.command('unpause').argument('<containers...>').description('thaw all processes')
    .action(each((id) => api().call('POST', `/containers/${id}/unpause`)));
  parent.command('wait').argument('<containers...>').description('wait for containers to stop; print their exit codes')
    .action(async (ids: string[]) => { for (const id of ids) process.stdout.write(`${(await api().call<{ StatusCode: number }>('POST', `/containers/${id}/wait`)).StatusCode}\n`); });
  addResourceOptions(parent.command('update').argument('<containers...>').description('change resource limits and the restart policy'))
    .action(each(async (id, o) => {
      const r = await api().call<{ Warnings?: string[] | null }>('POST', `/containers/${id}/update`, resourceFields(o as ResourceOpts));
      for (const w of r?.Warnings ?? []) process.stderr.write(`${w}\n`);
    }));
  parent.command('rename').argument('<container>').argument('<name>').description('rename a container')
    .action(async (id: string, name: string) => {
      try { await api().call('POST', `/containers/${id}/rename?name=${encodeURIComponent(name)}`); } catch (e) {
        if (!(e instanceof DaemonError)) throw e;
        process.stderr.write(`Error response from daemon: ${e.message}\nError: failed to rename container named ${id}\n`);
        process.exitCode = 1;
      }
    });
}
