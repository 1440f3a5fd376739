// What every berth CLI bundle shares: the program with its global options,
// building only the verb that runs, and the run with its error handling.
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { DEFAULT_DATA_ROOT } from '../engine/index.js';
import { verbOf } from './verbs.js';
import { ApiClient, canConnect, clientFor, DaemonError, socketOf } from './client.js';
import { RegistryError, type ImageEvent } from '../image/index.js';
import { Conflict, NotFound } from '../util/check.js';

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

/** The program and its global options; `verbs` is where the verb registrars add to it. */
export function newProgram(verb: string | undefined): { program: Command; verbs: Command } {
  const program = new Command('berth')
    .description('berth: a container engine')
    .version(`berth version ${VERSION}`, '-v, --version')
    .option('--data-root <dir>', 'where berth keeps images and containers', process.env.BERTH_DATA_ROOT ?? DEFAULT_DATA_ROOT)
    .option('-H, --host <unix://path>', 'the daemon to use (default: the data root\'s, started when needed)', process.env.BERTH_HOST)
    .showHelpAfterError()
    .enablePositionalOptions()
    .exitOverride();
  return { program, verbs: verb ? onlyVerb(program, verb) : program };
}

/** The daemon client the global options name, made on first use. */
export function apiOf(program: Command): () => ApiClient {
  let api: ApiClient | undefined;
  return () => (api ??= clientFor((program.opts() as { dataRoot: string }).dataRoot, (program.opts() as { host?: string }).host));
}

/** A client of -H's daemon, or of the data root's, which it never starts. */
function daemonClient(program: Command): ApiClient {
  const o = program.opts() as { dataRoot: string; host?: string };
  return o.host ? clientFor(o.dataRoot, o.host) : new ApiClient(socketOf(o.dataRoot));
}

/** The daemon that serves the data root (or -H's), when one answers: none is started for this. */
export function servingDaemonOf(program: Command): () => Promise<ApiClient | undefined> {
  return async () => {
    const api = daemonClient(program);
    return (program.opts() as { host?: string }).host || (await canConnect(api.socket)) ? api : undefined;
  };
}

/**
 * Tells the data root's berthd, when one runs (none is started for this), of
 * image changes the CLI made in the store itself, for its events.
 */
export function imageEventsOf(program: Command): (evs: ImageEvent[]) => Promise<void> {
  return async (evs) => {
    const api = daemonClient(program);
    try {
      await api.call('POST', '/berth/image-events', evs);
    } catch (e) {
      if (e instanceof DaemonError && e.status !== 404) throw e; // not: no daemon, or one without the route
    }
  };
}

/** Parses and runs a command line; the exit code. */
export async function runCli(argv: string[], build: (verb: string | undefined) => Command): Promise<number> {
  // a reader that stopped early (`berth logs c | head`) ends us quietly, as SIGPIPE ends other CLIs
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(141); throw e; });
  const verb = verbOf(argv);
  let program = build(verb);
  // a word that names no verb: build them all, so commander's error lists the choices
  if (verb && !program.commands.some((c) => c.name() === verb || c.aliases().includes(verb))) program = build(undefined);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0); // a verb may fail part of its work (rmi of several images)
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) return err.exitCode ?? 1;
    process.stderr.write(errorLine(err));
    return 1;
  }
}

/**
 * An error as the CLI prints it: the daemon's refusals as docker's CLI words
 * them (the image verbs' store answers for the daemon here), others as berth's.
 */
export function errorLine(e: unknown): string {
  const daemon = e instanceof DaemonError || e instanceof NotFound || e instanceof Conflict || e instanceof RegistryError;
  return `${daemon ? 'Error response from daemon' : 'berth'}: ${(e as Error).message}\n`;
}
