// berth-runtime: the runc-compatible command line over src/runtime. Engines
// (dockerd/containerd, podman/conmon) call it with runc's verbs and flags.
import { Command, Option } from 'commander';
import { appendFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { InvalidInput, Field } from '../util/check.js';
import { Runtime, DEFAULT_ROOT, parseConfig, defaultSpec, features } from '../runtime/index.js';
import { VERSION } from '../version.js';
import { bytesOf } from '../util/size.js';
import { serveRuntime } from './runtime-server.js';

interface Globals { root: string; log?: string; logFormat: string; debug?: boolean; systemdCgroup?: boolean }

/** One line of the log engines read (--log, --log-format), as runc writes it; and stderr. */
function logLine(g: Globals, level: 'error' | 'warning', msg: string): void {
  if (g.log) {
    const line = g.logFormat === 'json'
      ? JSON.stringify({ level, msg, time: new Date().toISOString() })
      : `time="${new Date().toISOString()}" level=${level} msg="${msg.replace(/"/g, '\\"')}"`;
    try { appendFileSync(g.log, `${line}\n`); } catch { /* the log is best effort; stderr still says it */ }
  }
  // an engine reads the log; a warning on stderr would be taken for a failure's words by some
  if (level === 'error' || !g.log) process.stderr.write(`berth-runtime: ${level === 'warning' ? 'warning: ' : ''}${msg}\n`);
}

const logError = (g: Globals, msg: string) => logLine(g, 'error', msg);

function readProcess(path: string | undefined, args: string[], runtime: Runtime, id: string, o: { tty?: boolean; cwd?: string; env?: string[]; user?: string; cap?: string[]; noNewPrivs?: boolean }) {
  // a full process.json (what engines pass), or the container's process with CLI overrides
  if (path) {
    const text = readFileSync(path, 'utf8');
    const wrapped = { ociVersion: '1.2.0', root: { path: '/' }, process: JSON.parse(text), linux: { namespaces: [{ type: 'mount' }] } };
    return parseConfig(JSON.stringify(wrapped)).process!;
  }
  const base = runtime.load(id).config.process;
  if (!base) throw new InvalidInput('process', 'the container has no process to take defaults from');
  if (args.length === 0) throw new InvalidInput('exec', 'needs a command or --process');
  let user = base.user;
  if (o.user) {
    const [u, g] = o.user.split(':');
    const uid = new Field('--user', Number(u)).int(0), gid = g !== undefined ? new Field('--user', Number(g)).int(0) : base.user.gid;
    user = { ...base.user, uid, gid };
  }
  const caps = base.capabilities && o.cap?.length
    ? Object.fromEntries(Object.entries(base.capabilities).map(([k, v]) => [k, k === 'ambient' ? v : [...new Set([...v, ...o.cap!])]])) as typeof base.capabilities
    : base.capabilities;
  return { ...base, args, terminal: !!o.tty, cwd: o.cwd ?? base.cwd, env: [...base.env, ...(o.env ?? [])], user, capabilities: caps, noNewPrivileges: o.noNewPrivs ?? base.noNewPrivileges };
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** The runtime server for the C front (runtime-server.ts), on the unix socket `path`. */
export function serve(path: string): Promise<number> {
  return serveRuntime(main, path);
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('berth-runtime')
    .description('berth OCI runtime (runc-compatible command line)')
    .version(`berth-runtime version ${VERSION}\nspec: 1.2.0`, '-v, --version')
    .option('--root <dir>', 'state directory', DEFAULT_ROOT)
    .option('--log <file>', 'log file (engines read errors from it)')
    .addOption(new Option('--log-format <fmt>', 'log format').choices(['text', 'json']).default('text'))
    .option('--debug', 'debug output')
    .option('--systemd-cgroup', 'cgroupsPath is in systemd notation (slice:prefix:name)')
    .option('--criu <path>', 'accepted for compatibility; checkpoint is not supported')
    .option('--rootless <value>', 'accepted for compatibility')
    .showHelpAfterError()
    .enablePositionalOptions()
    .exitOverride();
  const g = () => program.opts() as Globals;
  const rt = () => new Runtime(g().root, (msg) => logLine(g(), 'warning', msg));
  const exited = (c: number) => { code = c; };
  registerLifecycle(program, rt, exited);
  registerInspection(program, rt);
  registerExec(program, rt, exited);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) return err.exitCode ?? 1;
    logError(g(), err instanceof InvalidInput ? `invalid config: ${err.message}` : err.message);
    return 1;
  }
  return code;
}

type RuntimeOf = () => Runtime;

/** The signals runc's run and exec pass on to the process they wait for (those Node lets a program handle). */
const FORWARDED = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGTERM'] as const;

/** Passes the signals this process gets on to `pid`, as runc does in the foreground; returns the undo. */
function forwardSignals(pid: number): () => void {
  const send = (sig: NodeJS.Signals) => { try { process.kill(pid, sig); } catch { /* it has exited */ } };
  for (const sig of FORWARDED) process.on(sig, send);
  return () => { for (const sig of FORWARDED) process.off(sig, send); };
}

/** create, start, run, state, kill, delete, pause, resume: a container's life. */
function registerLifecycle(program: Command, rt: RuntimeOf, exited: (code: number) => void): void {
  program.command('create <id>').description('create a container (its process waits for start)')
    .option('-b, --bundle <dir>', 'bundle directory', '.')
    .option('--console-socket <path>', 'unix socket that receives the pty master')
    .option('--pid-file <path>', 'write the init pid here')
    .option('--preserve-fds <n>', 'extra fds passed to the container', '0')
    .option('--no-pivot', 'use chroot instead of pivot_root')
    .option('--no-new-keyring', 'accepted for compatibility')
    .action(async (id: string, o) => {
      await rt().create(id, o.bundle, { consoleSocket: o.consoleSocket, pidFile: o.pidFile, preserveFds: Number(o.preserveFds), noPivot: o.pivot === false });
    });

  program.command('start <id>').description('start a created container').action(async (id: string) => { await rt().start(id); });

  program.command('run <id>').description('create and start a container')
    .option('-b, --bundle <dir>', 'bundle directory', '.')
    .option('--console-socket <path>', 'unix socket that receives the pty master')
    .option('--pid-file <path>', 'write the init pid here')
    .option('--preserve-fds <n>', 'extra fds passed to the container', '0')
    .option('-d, --detach', 'do not wait for the container')
    .option('--no-pivot', 'use chroot instead of pivot_root')
    .option('--no-new-keyring', 'accepted for compatibility')
    .option('--keep', 'do not delete the container after it exits')
    .action(async (id: string, o) => {
      const r = rt();
      const { state, done } = await r.create(id, o.bundle, { consoleSocket: o.consoleSocket, pidFile: o.pidFile, preserveFds: Number(o.preserveFds), noPivot: o.pivot === false, supervise: !o.detach });
      const unforward = o.detach ? () => {} : forwardSignals(state.pid);
      try {
        try {
          await r.start(id);
        } catch (e) {
          await r.delete(id, true);
          throw e;
        }
        if (o.detach) return;
        exited((await done).exitCode);
      } finally { unforward(); }
      if (!o.keep) await r.delete(id, true);
    });

  program.command('state <id>').description('print the state of a container').action((id: string) => {
    const r = rt();
    process.stdout.write(`${JSON.stringify(r.stateJson(r.load(id)), null, 2)}\n`);
  });

  program.command('kill <id> [signal]').description('send a signal (default SIGTERM) to the container')
    .option('-a, --all', 'signal every process in the container')
    .action((id: string, sig: string | undefined, o) => { rt().kill(id, sig ?? 'SIGTERM', !!o.all); });

  program.command('delete <id>').alias('rm').description('delete a container')
    .option('-f, --force', 'kill it first if it runs')
    .action(async (id: string, o) => { await rt().delete(id, !!o.force); });

  registerUpdate(program, rt);

  program.command('pause <id>').description('freeze all processes').action(async (id: string) => { await rt().pause(id); });
  program.command('resume <id>').description('thaw all processes').action(async (id: string) => { await rt().resume(id); });

}

/** ps, list, events, spec, features: what is there, and what the runtime can do. */
function registerInspection(program: Command, rt: RuntimeOf): void {
  program.command('ps <id> [psArgs...]').description('list the processes of a container')
    .passThroughOptions()
    .option('-f, --format <fmt>', 'table or json', 'table')
    .action((id: string, psArgs: string[], o) => {
      const pids = rt().pids(id);
      if (o.format === 'json') { process.stdout.write(`${JSON.stringify(pids)}\n`); return; }
      const out = spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8' });
      const lines = out.stdout.split('\n');
      const col = lines[0].trim().split(/\s+/).indexOf('PID');
      process.stdout.write(`${lines[0]}\n`);
      for (const l of lines.slice(1)) if (l && pids.includes(Number(l.trim().split(/\s+/)[col]))) process.stdout.write(`${l}\n`);
    });

  program.command('list').alias('ls').description('list containers')
    .option('-f, --format <fmt>', 'table or json', 'table')
    .option('-q, --quiet', 'ids only')
    .action((o) => {
      const r = rt();
      const all = r.list().map((id) => { try { return r.stateJson(r.load(id)); } catch { return undefined; } }).filter((x) => x !== undefined);
      if (o.quiet) for (const s of all) process.stdout.write(`${s.id}\n`);
      else if (o.format === 'json') process.stdout.write(`${JSON.stringify(all)}\n`);
      else {
        process.stdout.write('ID\tPID\tSTATUS\tBUNDLE\tCREATED\n');
        for (const s of all) process.stdout.write(`${s.id}\t${s.pid}\t${s.status}\t${s.bundle}\t${s.created}\n`);
      }
    });

  program.command('events <id>').description('container statistics and OOM events')
    .option('--stats', 'print the statistics once')
    .option('--interval <s>', 'seconds between statistics', '5')
    .action(async (id: string, o) => {
      const r = rt();
      const emit = (type: string, data: unknown) => process.stdout.write(`${JSON.stringify({ type, id, data })}\n`);
      if (o.stats) { emit('stats', r.stats(id)); return; }
      let oom = r.stats(id).memory.oomKill;
      for (;;) {
        await new Promise((res) => setTimeout(res, Number(o.interval) * 1000));
        if (r.status(r.load(id)) === 'stopped') return;
        const s = r.stats(id);
        if (s.memory.oomKill > oom) emit('oom', null);
        oom = s.memory.oomKill;
        emit('stats', s);
      }
    });

  program.command('spec').description('write a default config.json')
    .option('-b, --bundle <dir>', 'bundle directory', '.')
    .option('--rootless', 'a spec for a user namespace')
    .action((o) => {
      const f = `${o.bundle}/config.json`;
      if (existsSync(f)) throw new InvalidInput('spec', `${f} already exists`);
      writeFileSync(f, `${JSON.stringify(defaultSpec({ rootless: !!o.rootless }), null, 2)}\n`);
    });

  program.command('features').description('print what this runtime supports').action(() => {
    process.stdout.write(`${JSON.stringify(features(), null, 2)}\n`);
  });

}

/** exec: a process in a running container. */
function registerExec(program: Command, rt: RuntimeOf, exited: (code: number) => void): void {
  program.command('exec <id> [command...]').description('run a process in a running container')
    .passThroughOptions()
    .option('-p, --process <file>', 'process.json')
    .option('--console-socket <path>', 'unix socket that receives the pty master')
    .option('--pid-file <path>', 'write the pid here')
    .option('-d, --detach', 'do not wait')
    .option('-t, --tty', 'allocate a pty')
    .option('--cwd <dir>', 'working directory')
    .option('-e, --env <kv>', 'environment variable', collect)
    .option('-u, --user <uid[:gid]>', 'user')
    .option('-c, --cap <cap>', 'add a capability', collect)
    .option('--no-new-privs', 'set no_new_privs')
    .option('--preserve-fds <n>', 'extra fds passed to the process', '0')
    .action(async (id: string, cmd: string[], o) => {
      const r = rt();
      const proc = readProcess(o.process, cmd, r, id, { tty: o.tty, cwd: o.cwd, env: o.env, user: o.user, cap: o.cap, noNewPrivs: o.newPrivs === false ? true : undefined });
      const { pid, done } = await r.exec(id, proc, { consoleSocket: o.consoleSocket, pidFile: o.pidFile, detach: !!o.detach, preserveFds: Number(o.preserveFds) });
      if (o.detach) return;
      const unforward = forwardSignals(pid);
      try { exited((await done).exitCode); } finally { unforward(); }
    });

}

/**
 * runc's `update`: new limits for a created or running container, from
 * `-r FILE` (linux.resources JSON; "-" is stdin, as containerd's shim
 * passes them) or else from the flags. What is not given stays.
 */
function registerUpdate(program: Command, rt: RuntimeOf): void {
  const int = (flag: string) => (v: string) => new Field(flag, Number(v)).int();
  const size = (flag: string) => (v: string) => (v === '-1' ? -1 : bytesOf(flag, v));
  const c = program.command('update <id>').description('update the resource limits of a created or running container')
    .option('-r, --resources <file>', 'linux.resources as JSON ("-": stdin); the flags are then ignored');
  const flags: [string, string, (v: string) => unknown, string, string][] = [
    ['--blkio-weight <n>', 'blkio weight (10-1000)', int('--blkio-weight'), 'blockIO', 'weight'],
    ['--cpu-period <us>', 'CPU CFS period', int('--cpu-period'), 'cpu', 'period'],
    ['--cpu-quota <us>', 'CPU CFS quota', int('--cpu-quota'), 'cpu', 'quota'],
    ['--cpu-burst <us>', 'CPU CFS burst', int('--cpu-burst'), 'cpu', 'burst'],
    ['--cpu-rt-period <us>', 'CPU real-time period', int('--cpu-rt-period'), 'cpu', 'realtimePeriod'],
    ['--cpu-rt-runtime <us>', 'CPU real-time runtime', int('--cpu-rt-runtime'), 'cpu', 'realtimeRuntime'],
    ['--cpu-share <n>', 'CPU shares', int('--cpu-share'), 'cpu', 'shares'],
    ['--cpu-idle <n>', 'SCHED_IDLE for the cgroup (0 or 1)', int('--cpu-idle'), 'cpu', 'idle'],
    ['--cpuset-cpus <list>', 'CPUs to run on', String, 'cpu', 'cpus'],
    ['--cpuset-mems <list>', 'memory nodes to use', String, 'cpu', 'mems'],
    ['--memory <bytes>', 'memory limit', size('--memory'), 'memory', 'limit'],
    ['--memory-reservation <bytes>', 'memory soft limit', size('--memory-reservation'), 'memory', 'reservation'],
    ['--memory-swap <bytes>', 'memory plus swap limit (-1: unlimited)', size('--memory-swap'), 'memory', 'swap'],
    ['--kernel-memory <bytes>', 'kernel memory limit (cgroup v1)', size('--kernel-memory'), 'memory', 'kernel'],
    ['--kernel-memory-tcp <bytes>', 'kernel TCP buffer limit (cgroup v1)', size('--kernel-memory-tcp'), 'memory', 'kernelTCP'],
    ['--pids-limit <n>', 'process limit (-1: unlimited)', int('--pids-limit'), 'pids', 'limit'],
  ];
  for (const [spec, help] of flags) c.option(spec, help);
  c.option('--l3-cache-schema <s>', 'Intel RDT L3 cache schema (not supported)').option('--mem-bw-schema <s>', 'Intel RDT memory bandwidth schema (not supported)');
  c.action((id: string, o: Record<string, string | undefined>) => {
    if (o.l3CacheSchema || o.memBwSchema) throw new InvalidInput('update', 'Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by berth-runtime');
    let resources: Record<string, Record<string, unknown>> = {};
    if (o.resources) {
      const text = readFileSync(o.resources === '-' ? 0 : o.resources, 'utf8');
      try { resources = JSON.parse(text) as typeof resources; } catch (e) { throw new InvalidInput('--resources', `not valid JSON: ${(e as Error).message}`); }
    } else {
      for (const [spec, , parse, section, field] of flags) {
        const key = spec.slice(2, spec.indexOf(' ')).replace(/-(\w)/g, (_, ch: string) => ch.toUpperCase());
        if (o[key] !== undefined) (resources[section] ??= {})[field] = parse(o[key]!);
      }
    }
    rt().update(id, resources);
  });
}
