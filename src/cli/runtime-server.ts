// The runtime server: the runtime CLI (runtime.ts) loaded and warm in a
// Node process that serves the commands of its C front
// (native/cli/runtime-front.c), so that a verb engines run (create, start,
// state, kill, delete, exec) does not pay for starting Node. It runs one
// command at a time, in the front's place (handover.ts); the executors a
// command starts are started by the front, as its children. A front finds
// it busy and runs the Node CLI itself. The first front that finds none
// starts it; it ends after BERTH_RUNTIME_SERVER_IDLE seconds without a
// command (600), when the runtime is built again, or after a command that
// left something open.
import { createServer, type Socket } from 'node:net';
import { closeSync, constants, lstatSync, mkdirSync, openSync, realpathSync, statSync, unlinkSync, writeSync, readFileSync, writeFileSync, ftruncateSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { fsx } from '../util/fsx.js';
import { upgradeBody } from '../util/upgrade-body.js';
import { spawnExecutorsWith, spawnedExecutorsEnded } from '../runtime/index.js';
import { Stdio, parseJob, serveFront, takeOver } from './handover.js';

/** Commands one server runs before it makes way for a fresh one (its heap only grows). */
const MAX_COMMANDS = 1000;
/** A command line and environment larger than this is not one a front sends. */
const MAX_JOB = 4 << 20;

type Main = (argv: string[]) => Promise<number>;

/** The bundle's identity: a server of a runtime since built again serves no more. */
function stampOf(bundle: string): string {
  try { const s = statSync(bundle); return `${s.ino}:${s.size}:${s.mtimeMs}`; } catch { return ''; }
}

/** Out of the cgroups of whoever started us (an engine's shim or conmon, whose scope we would keep alive): into each hierarchy's root. */
function leaveCallerCgroups(): void {
  let mounts = '';
  try { mounts = readFileSync('/proc/self/mounts', 'utf8'); } catch { return; }
  for (const line of mounts.split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    try { writeFileSync(join(dir!.replace(/\\040/g, ' '), 'cgroup.procs'), String(process.pid)); } catch { /* stays */ }
  }
}

/** The socket's directory, made root's alone; refused when anyone else could write in it. */
function ownDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid!() || (st.mode & 0o022)) throw new Error(`${dir} is not a directory only its owner can write`);
}

/** The head of a front's request (its end is where the body begins). */
function readHead(socket: Socket): Promise<{ head: string; after: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) { if (buf.length > 16384) fail(new Error('head too long')); return; }
      socket.off('data', onData).off('error', fail).off('end', ended);
      socket.pause();
      resolve({ head: buf.subarray(0, end).toString('latin1'), after: buf.subarray(end + 4) });
    };
    const fail = (e: Error) => { socket.off('data', onData); reject(e); };
    const ended = () => fail(new Error('cut short'));
    socket.on('data', onData).on('error', fail).on('end', ended);
  });
}

/** A front's request: its head, the command (a body of Content-Length), and the signals that followed it. */
async function readRequest(socket: Socket): Promise<{ head: string; body: Buffer; rest: Buffer }> {
  const { head, after } = await readHead(socket);
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
  if (!(length > 0 && length <= MAX_JOB)) throw new Error('bad Content-Length');
  const { body, rest } = await upgradeBody(socket, after, length);
  if (body.length < length) throw new Error('cut short');
  return { head, body, rest };
}

const refuse = (socket: Socket, why: string) => socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(why)}\r\nConnection: close\r\n\r\n${why}`);

/** A command that changes nothing, so that what every command runs is compiled and warm when one comes. */
async function warmUp(main: Main, stdio: Stdio): Promise<void> {
  stdio.sink = new Writable({ write: (_c, _e, done) => done() });
  try { await main(['--root', '/nonexistent/berth-runtime-warm-up', 'state', 'warm-up']); } catch { /* only slower */ } finally {
    stdio.sink = undefined;
    process.exitCode = undefined;
  }
}

/**
 * Serves fronts on the unix socket `path` until idle, rebuilt, or a command
 * left something open. Only one server holds a path (a lock beside it, which
 * also names its pid). Returns the exit code.
 */
export async function serveRuntime(main: Main, path: string): Promise<number> {
  const bundle = fileURLToPath(import.meta.url);
  const dist = realpathSync(dirname(bundle));
  const stamp = stampOf(bundle);
  ownDirectory(dirname(path));
  // opened without O_TRUNC: a server that loses the race must not wipe the winner's pid
  const lock = openSync(`${path}.lock`, constants.O_RDWR | constants.O_CREAT, 0o600);
  if (!fsx().tryLock(lock)) { closeSync(lock); return 0; } // another front started one first
  ftruncateSync(lock);
  writeSync(lock, `${process.pid}\n`);
  leaveCallerCgroups();
  const stdio = new Stdio();
  await warmUp(main, stdio);
  try { unlinkSync(path); } catch { /* none left */ }
  const idleMs = Number(process.env.BERTH_RUNTIME_SERVER_IDLE ?? 600) * 1000;
  let busy = false, served = 0, idle: NodeJS.Timeout | undefined;
  const server = createServer({ pauseOnConnect: false });
  const mine = () => { try { return lstatSync(path).ino; } catch { return -1; } };
  let ino = -1;
  const stop = () => { clearTimeout(idle); if (mine() === ino) try { unlinkSync(path); } catch { /* gone */ } server.close(); closeSync(lock); };
  const rearm = () => { clearTimeout(idle); idle = setTimeout(() => { stop(); process.exit(0); }, idleMs); };
  server.on('connection', (socket) => {
    void readRequest(socket).then(async ({ head, body, rest }) => {
      if (!head.startsWith('POST /berth/runtime ')) { refuse(socket, 'not a runtime command'); return; }
      if (/\r\nx-berth-dist: *([^\r]*)/i.exec(head)?.[1] !== dist) { refuse(socket, `this server runs the runtime of ${dist}`); return; }
      if (stampOf(bundle) !== stamp) { refuse(socket, 'the runtime was built again'); stop(); return; }
      if (busy) { refuse(socket, 'busy'); return; }
      busy = true;
      clearTimeout(idle);
      const job = parseJob(body);
      try { takeOver(socket, job); } catch (e) {
        refuse(socket, (e as Error).message);
        stop(); // what it took over in part goes with it
        setTimeout(() => process.exit(0), 100);
        return;
      }
      const { code, reusable } = await serveFront(socket, job, rest, async (argv, link) => {
        spawnExecutorsWith((p, args, fds) => link.spawn(p, args, fds));
        try { return await main(argv); } finally { spawnExecutorsWith(undefined); await spawnedExecutorsEnded(); }
      }, stdio, 'berth-runtime', ++served >= MAX_COMMANDS);
      if (!reusable) { stop(); process.exit(code); }
      busy = false;
      rearm();
    }, () => socket.destroy());
  });
  const oldMask = process.umask(0o077);
  await new Promise<void>((res, rej) => server.once('error', rej).listen(path, () => res()));
  process.umask(oldMask);
  ino = mine();
  rearm();
  return new Promise<number>(() => { /* ends by process.exit */ });
}
