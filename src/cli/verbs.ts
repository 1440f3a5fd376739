// Which bundle a berth command line needs, decided before any is loaded
// (src/cli/launcher.ts): the container verbs only talk to berthd, so their
// bundle leaves out the image store, the runtime and the engine.

/** The verb a command line runs: its first word that is not a global option or an option's value. */
export function verbOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--data-root' || a === '-H' || a === '--host') { i++; continue; }
    if (a.startsWith('-')) { if (a.includes('=') || /^-H./.test(a)) continue; return undefined; } // -h, -v, an unknown flag: let commander answer
    return a;
  }
  return undefined;
}

/** The top-level verbs registerContainerCommands (src/cli/containers.ts) defines. */
export const CONTAINER_VERBS = new Set([
  'attach', 'build', 'commit', 'container', 'cp', 'create', 'diff', 'events', 'exec', 'export', 'info', 'inspect', 'kill', 'logs',
  'network', 'pause', 'port', 'ps', 'rename', 'restart', 'rm', 'run', 'start', 'stats', 'stop', 'system', 'top', 'unpause', 'update', 'volume', 'wait',
]);
