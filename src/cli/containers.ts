// The container verbs of the berth CLI, with docker's names and flags, one
// file each group (src/cli/verbs/). Each is a client of berthd
// (src/cli/client.ts), which the first use starts.
import type { Command } from 'commander';
import type { ApiClient } from './client.js';
import { registerRun } from './verbs/run.js';
import { registerLifecycle } from './verbs/lifecycle.js';
import { registerIo } from './verbs/io.js';
import { registerInspect } from './verbs/inspect.js';
import { registerFiles } from './verbs/files.js';
import { registerList } from './verbs/list.js';
import { registerNetworks } from './verbs/networks.js';
import { registerVolumes } from './verbs/volumes.js';
import { registerSystem } from './verbs/system.js';
import { registerBuild } from './verbs/build.js';

export { bytesOf, createBody } from './verbs/shared.js';

export function registerContainerCommands(program: Command, api: () => ApiClient): void {
  registerRun(program, api);
  const container = program.command('container').description('manage containers');
  // each verb as `berth VERB` and `berth container VERB`, as docker has them
  for (const parent of [program, container]) {
    registerLifecycle(parent, api);
    registerIo(parent, api);
    registerInspect(parent, program, api);
    registerFiles(parent, api);
  }
  registerList(program, container, api);
  registerNetworks(program, api);
  registerVolumes(program, api);
  registerSystem(program, api);
  registerBuild(program, api);
}
