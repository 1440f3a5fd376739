// berth run and create: a container made from an image, started and attached,
// its signals passed on, its exit code the command's.
import { Command } from 'commander';
import type { ApiClient } from '../client.js';
import { errorLine } from '../program.js';
import { SIG_PROXY, addRunOptions, createBody, pumpStreams, createContainer, proxySignals, type RunOpts } from './shared.js';

export function registerRun(program: Command, api: () => ApiClient): void {
  const run = async (image: string, cmd: string[], o: RunOpts, startOnly = false) => {
    const a = api();
    let id: string;
    try { id = await createContainer(a, createBody(image, cmd, o), o.name); } catch (e) {
      if (startOnly) throw e;
      process.stderr.write(errorLine(e));
      process.exitCode = 125; // docker run's code for an error of its own or the daemon's
      return;
    }
    if (startOnly) { process.stdout.write(`${id}\n`); return; }
    if (o.detach) {
      await a.call('POST', `/containers/${id}/start`);
      process.stdout.write(`${id}\n`);
      return;
    }
    const [sock, waitRes] = await Promise.all([
      a.hijack('POST', `/containers/${id}/attach?stream=1&stdin=${o.interactive ? 1 : 0}&stdout=1&stderr=1`, undefined, !o.interactive),
      a.raw('POST', `/containers/${id}/wait?condition=${o.rm ? 'removed' : 'next-exit'}`),
    ]);
    const waited = (async () => { let t = ''; for await (const c of waitRes) t += (c as Buffer).toString(); return JSON.parse(t) as { StatusCode: number; Error?: { Message: string } | null }; })();
    // before the start: the process's output may reach a reader (and its signals come back) before the start is answered
    const unproxy = proxySignals(a, id, o.sigProxy, !!o.tty);
    try { await a.call('POST', `/containers/${id}/start`); } catch (e) {
      unproxy();
      sock.destroy();
      process.stderr.write(errorLine(e));
      process.exitCode = /not found|no such file/i.test((e as Error).message) ? 127 : /permission denied/i.test((e as Error).message) ? 126 : 125;
      if (o.rm) await a.call('DELETE', `/containers/${id}?force=1&v=1`).catch(() => {});
      return;
    }
    try {
      await pumpStreams(a, sock, !!o.tty, !!o.interactive, `/containers/${id}/resize`);
      process.exitCode = (await waited).StatusCode;
    } finally {
      unproxy();
    }
  };
  addRunOptions(program.command('run').description('create and start a container from an image')
    .argument('<image>').argument('[command...]')
    .option('-d, --detach', 'run in the background and print the container ID')
    .option(...SIG_PROXY)
    .option('--rm', 'remove the container when it exits'))
    .passThroughOptions()
    .action((image: string, cmd: string[], o: RunOpts) => run(image, cmd, o));
  addRunOptions(program.command('create').description('create a container without starting it')
    .argument('<image>').argument('[command...]')
    .option('--rm', 'remove the container when it exits'))
    .passThroughOptions()
    .action((image: string, cmd: string[], o: RunOpts) => run(image, cmd, { ...o, detach: true }, true));
}
