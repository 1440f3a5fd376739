// berthd: the daemon's command line.
import { Command } from 'commander';
import { Daemon, DEFAULT_EXEC_ROOT, DEFAULT_SOCKET } from '../engine/daemon.js';
import { DEFAULT_DATA_ROOT } from '../engine/data-root.js';
import { VERSION } from '../version.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('berthd')
    .description('berth daemon: the Docker Engine API on a unix socket')
    .version(`berthd version ${VERSION}`, '-v, --version')
    .option('--data-root <dir>', 'images and containers', process.env.BERTH_DATA_ROOT ?? DEFAULT_DATA_ROOT)
    .option('--exec-root <dir>', 'shim sockets and runtime state', process.env.BERTH_EXEC_ROOT ?? DEFAULT_EXEC_ROOT)
    .option('-H, --host <unix://path>', 'socket to serve', `unix://${DEFAULT_SOCKET}`)
    .option('--cgroup-parent <path>', 'cgroup for containers', '/berth')
    .option('--insecure-registry <host>', 'plain http for this registry (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--registry-mirror <url>', 'mirror tried first for any registry (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    return (e as { exitCode?: number }).exitCode ?? 1;
  }
  const o = program.opts() as { dataRoot: string; execRoot: string; cgroupParent: string; host: string; insecureRegistry?: string[]; registryMirror?: string[] };
  if (!o.host.startsWith('unix://')) { process.stderr.write(`berthd: --host: only unix:// sockets are served (got ${o.host})\n`); return 1; }
  const d = new Daemon({ dataRoot: o.dataRoot, execRoot: o.execRoot, cgroupParent: o.cgroupParent, socket: o.host.slice(7), insecureRegistries: o.insecureRegistry, mirrors: o.registryMirror });
  try {
    await d.start();
  } catch (e) {
    process.stderr.write(`berthd: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`berthd ${VERSION}: serving API ${o.host} (data root ${o.dataRoot})\n`);
  await new Promise<void>((res) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { void d.stop().then(res); });
  });
  return 0;
}
