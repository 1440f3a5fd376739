// berth-runtime: the runc-compatible command line over src/runtime. Engines
// (dockerd/containerd, podman/conmon) call it with runc's verbs and flags.
import { Command, Option } from 'commander';
import { appendFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { InvalidInput, Field } from '../util/check.js';
import { Runtime, DEFAULT_ROOT, parseConfig, defaultSpec, features } from '../runtime/index.js';
import { VERSION } from '../version.js';

interface Globals { root: string; log?: string; logFormat: string; debug?: boolean; systemdCgroup?: boolean }

function logError(g: Globals, msg: string): void {
  if (g.log) {
    const line = g.logFormat === 'json'
      ? JSON.stringify({ level: 'error', msg, time: new Date().toISOString() })
      : `time="${new Date().toISOString()}" level=error msg="${msg.replace(/"/g, '\\"')}"`;
    try { appendFileSync(g.log, `${line}\n`); } catch { /* the log is best effort; stderr still says it */ }
  }
  process.stderr.write(`berth-runtime: ${msg}\n`);
}

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
  const rt = () => new Runtime(g().root);
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
      const { done } = await r.create(id, o.bundle, { consoleSocket: o.consoleSocket, pidFile: o.pidFile, preserveFds: Number(o.preserveFds), noPivot: o.pivot === false, supervise: !o.detach });
      try {
        await r.start(id);
      } catch (e) {
        await r.delete(id, true);
        throw e;
      }
      if (o.detach) return;
      const res = await done;
      exited(res.exitCode);
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
      const { done } = await r.exec(id, proc, { consoleSocket: o.consoleSocket, pidFile: o.pidFile, detach: !!o.detach, preserveFds: Number(o.preserveFds) });
      if (!o.detach) exited((await done).exitCode);
    });

}
