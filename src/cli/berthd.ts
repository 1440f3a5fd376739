// berthd: the daemon's command line.
import { Command, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { CliWorkers } from './worker-pool.js';
import { projectRoot } from '../util/project.js';
import { Daemon, DEFAULT_EXEC_ROOT, DEFAULT_SOCKET } from '../daemon/daemon.js';
import { DEFAULT_DATA_ROOT } from '../engine/index.js';
import { VERSION } from '../version.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('berthd')
    .description('berth daemon: the Docker Engine API on a unix socket')
    .version(`berthd version ${VERSION}`, '-v, --version')
    .option('--data-root <dir>', 'images and containers', process.env.BERTH_DATA_ROOT ?? DEFAULT_DATA_ROOT)
    .option('--exec-root <dir>', 'shim sockets and runtime state', process.env.BERTH_EXEC_ROOT ?? DEFAULT_EXEC_ROOT)
    .option('-H, --host <unix://path|tcp://127.0.0.1:PORT>', 'where to serve the API (repeatable: the first unix socket is the main one, e.g. add unix:///var/run/docker.sock)', (v: string, p: string[] | undefined) => [...(p ?? []), v])
    .option('--tcp-allow-remote', 'allow a tcp:// address other than loopback (no authentication!)')
    .option('--cgroup-parent <path>', 'cgroup for containers', '/berth')
    .option('--ports-obey-input', 'published TCP ports take outside traffic through berth\'s splice forwarder, so that the host\'s input chain (inet filter input) decides on it as on any local service; without it (docker\'s way) it is DNATed before that chain')
    .option('--insecure-registry <host>', 'plain http for this registry (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--registry-mirror <url>', 'mirror tried first for any registry (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--cli-workers <n>', 'berth CLIs kept started, so that a berth command does not wait for Node to start (0: none)', (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) > 16) throw new InvalidArgumentError('a number from 0 to 16');
      return Number(v);
    }, 2)
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    return (e as { exitCode?: number }).exitCode ?? 1;
  }
  const o = program.opts() as { dataRoot: string; execRoot: string; cgroupParent: string; host?: string[]; tcpAllowRemote?: boolean; insecureRegistry?: string[]; registryMirror?: string[]; cliWorkers: number; portsObeyInput?: boolean };
  const hosts = o.host ?? [`unix://${DEFAULT_SOCKET}`];
  const main = hosts.find((h) => h.startsWith('unix://'));
  if (!main) { process.stderr.write('berthd: --host: at least one unix:// socket is needed (the berth CLI uses it)\n'); return 1; }
  const d = new Daemon({ dataRoot: o.dataRoot, execRoot: o.execRoot, cgroupParent: o.cgroupParent, portsObeyInput: !!o.portsObeyInput, socket: main.slice(7), extraHosts: hosts.filter((h) => h !== main), allowRemoteTcp: !!o.tcpAllowRemote, insecureRegistries: o.insecureRegistry, mirrors: o.registryMirror, cli: new CliWorkers(join(projectRoot(), 'dist'), o.cliWorkers, main.slice(7)) });
  try {
    await d.start();
  } catch (e) {
    process.stderr.write(`berthd: ${(e as Error).message}\n`);
    await d.stop().catch(() => {}); // what did start listening closes again
    return 1;
  }
  process.stderr.write(`berthd ${VERSION}: serving API ${hosts.join(', ')} (data root ${o.dataRoot})\n`);
  await new Promise<void>((res) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { void d.stop().then(res); });
  });
  return 0;
}
