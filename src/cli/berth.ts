// berth: the user's command line. Container verbs talk to berthd (started on
// first use); image verbs work on the store directly; `berth runtime ...` is
// the runc-compatible runtime CLI (the same as bin/berth-runtime).
import { Command } from 'commander';
import { release } from 'node:os';
import { existsSync } from 'node:fs';
import { main as runtimeMain } from './runtime.js';
import { detectHost } from '../runtime/cgroups/index.js';
import { executorPath } from '../runtime/executor.js';
import { VERSION } from '../version.js';
import { registerImageCommands } from './images.js';
import { DEFAULT_DATA_ROOT, imageStoreIn } from '../engine/data-root.js';
import type { ImageStore } from '../image/store.js';
import { registerContainerCommands } from './containers.js';
import { clientFor, type ApiClient } from './client.js';

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

/** The verb a command line runs: its first word that is not a global option or an option's value. */
function verbOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--data-root' || a === '-H' || a === '--host') { i++; continue; }
    if (a.startsWith('-')) { if (a.includes('=') || /^-H./.test(a)) continue; return undefined; } // -h, -v, an unknown flag: let commander answer
    return a;
  }
  return undefined;
}

/**
 * Commander builds every option of every verb when it is registered, which
 * costs a start ~6 ms. `only` hands the registrars a program on which every
 * other top-level verb is a sink that accepts and ignores its chain.
 */
function onlyVerb(program: Command, verb: string): Command {
  const sink: unknown = new Proxy(() => {}, { get: (_t, key) => (key === 'then' ? undefined : () => sink), apply: () => sink });
  return new Proxy(program, {
    get(target, key) {
      if (key === 'command') return (spec: string, ...rest: unknown[]) => (spec.split(' ')[0] === verb ? (target.command as (...a: unknown[]) => Command)(spec, ...rest) : sink);
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function buildProgram(verb: string | undefined): Command {
  const program = new Command('berth')
    .description('berth: a container engine')
    .version(`berth version ${VERSION}`, '-v, --version')
    .option('--data-root <dir>', 'where berth keeps images and containers', process.env.BERTH_DATA_ROOT ?? DEFAULT_DATA_ROOT)
    .option('-H, --host <unix://path>', 'the daemon to use (default: the data root\'s, started when needed)', process.env.BERTH_HOST)
    .showHelpAfterError()
    .enablePositionalOptions()
    .exitOverride();
  const verbs = verb ? onlyVerb(program, verb) : program;
  let store: ImageStore | undefined;
  registerImageCommands(verbs, () => (store ??= imageStoreIn((program.opts() as { dataRoot: string }).dataRoot)));
  let api: ApiClient | undefined;
  registerContainerCommands(verbs, () => (api ??= clientFor((program.opts() as { dataRoot: string }).dataRoot, (program.opts() as { host?: string }).host)));
  program.command('version').description('show version and host information')
    .option('-f, --format <fmt>', '"json" for machine-readable output')
    .action((o: { format?: string }) => {
      const v = versionInfo();
      if (o.format === 'json') { process.stdout.write(`${JSON.stringify(v)}\n`); return; }
      if (o.format !== undefined) throw new Error(`--format: unknown format "${o.format}" (use json)`);
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

export async function main(argv: string[]): Promise<number> {
  // everything after `runtime` belongs to the runtime CLI, flags included
  if (argv[0] === 'runtime') return runtimeMain(argv.slice(1));
  // a reader that stopped early (`berth logs c | head`) ends us quietly, as SIGPIPE ends other CLIs
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(141); throw e; });
  const verb = verbOf(argv);
  let program = buildProgram(verb);
  // a word that names no verb: build them all, so commander's error lists the choices
  if (verb && !program.commands.some((c) => c.name() === verb || c.aliases().includes(verb))) program = buildProgram(undefined);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0); // a verb may fail part of its work (rmi of several images)
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) return err.exitCode ?? 1;
    process.stderr.write(`berth: ${err.message}\n`);
    return 1;
  }
}
