// berth: the user's command line. Container verbs talk to berthd (started on
// first use); image verbs work on the store directly; `berth runtime ...` is
// the runc-compatible runtime CLI (the same as bin/berth-runtime).
import { Command } from 'commander';
import { release } from 'node:os';
import { existsSync } from 'node:fs';
import { main as runtimeMain } from './runtime.js';
import { detectHost, executorPath } from '../runtime/index.js';
import { API_VERSION, VERSION } from '../version.js';
import { formatGo } from './format.js';
import { registerImageCommands } from './images.js';
import { imageStoreIn } from '../engine/index.js';
import type { ImageStore } from '../image/index.js';
import { registerContainerCommands } from './containers.js';
import { apiOf, imageEventsOf, newProgram, runCli, servingDaemonOf } from './program.js';
import { CONTAINER_VERBS } from './verbs.js';
import { InvalidInput } from '../util/check.js';
import { resolve } from 'node:path';

function versionInfo() {
  const host = detectHost();
  const exe = executorPath();
  return {
    version: VERSION,
    ociRuntimeSpec: '1.2.0',
    node: process.versions.node,
    kernel: release(),
    cgroups: host.mode,
    cgroupControllers: host.hierarchies.map((h) => `v${h.version}:${h.controllers.join(',') || '-'}`),
    executor: existsSync(exe) ? exe : `${exe} (missing: run npm install)`,
  };
}

/** Verbs of berth.ts that use neither the image store nor a daemon. */
const LOCAL_VERBS = new Set(['version', 'login', 'logout', 'runtime']);

/**
 * Image verbs work on the store directly. With -H they work on the store of
 * the daemon named, as docker's act on that daemon's images: its data root
 * comes from /info. A --data-root given as well must name the same one.
 * A pull is that daemon's own (images.ts): it needs /info only for that check.
 */
async function useDaemonRoot(program: Command, action: Command): Promise<void> {
  const o = program.opts() as { dataRoot: string; host?: string };
  let verb = action;
  while (verb.parent && verb.parent !== program) verb = verb.parent;
  if (!o.host || LOCAL_VERBS.has(verb.name()) || CONTAINER_VERBS.has(verb.name())) return;
  if (verb.name() === 'pull' && program.getOptionValueSource('dataRoot') !== 'cli') return;
  const root = (await apiOf(program)().call<{ DockerRootDir: string }>('GET', '/info')).DockerRootDir;
  if (program.getOptionValueSource('dataRoot') === 'cli' && resolve(o.dataRoot) !== resolve(root)) {
    throw new InvalidInput('--data-root', `${o.dataRoot} is not the data root of the daemon at ${o.host} (${root})`);
  }
  program.setOptionValue('dataRoot', root);
}

function buildProgram(verb: string | undefined): Command {
  const { program, verbs } = newProgram(verb);
  let store: ImageStore | undefined;
  registerImageCommands(verbs, () => (store ??= imageStoreIn((program.opts() as { dataRoot: string }).dataRoot)), imageEventsOf(program), servingDaemonOf(program));
  registerContainerCommands(verbs, apiOf(program));
  program.hook('preAction', (_p, action) => useDaemonRoot(program, action));
  program.command('version').description('show version and host information')
    .option('-f, --format <fmt>', '"json" for machine-readable output, or a template over docker\'s {{.Client.*}} and {{.Server.*}}')
    .action(async (o: { format?: string }) => {
      const v = versionInfo();
      if (o.format === 'json') { process.stdout.write(`${JSON.stringify(v)}\n`); return; }
      if (o.format !== undefined && !o.format.includes('{{')) throw new Error(`--format: unknown format "${o.format}" (use json or a template)`);
      if (o.format !== undefined) {
        // docker's shape: the client's fields, and the daemon's /version (asked only when the template reads it)
        const client = { ...v, Version: v.version, ApiVersion: API_VERSION, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch };
        const server = o.format.includes('.Server') ? await apiOf(program)().call('GET', '/version') : null;
        process.stdout.write(`${formatGo(o.format, { Client: client, Server: server })}\n`);
        return;
      }
      process.stdout.write([
        `berth version ${v.version}`,
        ` OCI runtime spec: ${v.ociRuntimeSpec}`,
        ` Node:             ${v.node}`,
        ` Kernel:           ${v.kernel}`,
        ` cgroups:          ${v.cgroups} (${v.cgroupControllers.join(' ')})`,
        ` Executor:         ${v.executor}`,
      ].join('\n') + '\n');
    });
  program.command('runtime').description('the OCI runtime with runc\'s verbs and flags (see berth runtime --help)');
  return program;
}

export function main(argv: string[]): Promise<number> {
  // everything after `runtime` belongs to the runtime CLI, flags included
  if (argv[0] === 'runtime') return runtimeMain(argv.slice(1));
  return runCli(argv, buildProgram);
}
