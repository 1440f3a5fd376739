// A CLI worker: the berth CLI, started by berthd before it is needed (see
// src/cli/worker-pool.ts), that runs commands for the C front
// (native/cli/front.c), which so starts in a millisecond, not Node's 40,
// and finds the code it runs compiled and warm. For each command it takes
// the front's stdin, stdout and stderr as its own, its environment, working
// directory and umask, and runs the command exactly as the Node CLI would;
// the front passes on the signals it gets and ends with the exit code.
// Afterwards it lets go of the front's files and takes back the listeners
// the command added; a command that left anything else open, or read
// stdin, is the worker's last.
import type { Socket } from 'node:net';
import { closeSync, fstatSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { Socket as NetSocket } from 'node:net';
import { isatty, WriteStream } from 'node:tty';
import { setPriority } from 'node:os';
import { Writable } from 'node:stream';
import { fdOf, fsx } from '../util/fsx.js';

/** A command the front hands over (its fields: see front.c payload()). */
interface Job { pid: number; umask: number; cwd: string; argv: string[]; env: string[] }

function parseJob(body: Buffer): Job {
  const f = body.toString().split('\0');
  f.pop(); // every field ends with a NUL
  const argc = Number(f[3]);
  if (f.length < 4 + argc || !Number.isInteger(argc)) throw new Error('malformed command');
  return { pid: Number(f[0]), umask: parseInt(f[1]!, 8), cwd: f[2]!, argv: f.slice(4, 4 + argc), env: f.slice(4 + argc) };
}

const sameFile = (a: string, b: string) => { const x = statSync(a), y = statSync(b); return x.dev === y.dev && x.ino === y.ino; };

/**
 * Takes the front's place. Throws (and the front runs the Node CLI) unless
 * the front is the connection's peer, root, and sees the files, processes
 * and network we see.
 */
function takeOver(socket: Socket, job: Job): void {
  const fd = fdOf(socket);
  if (fd === undefined) throw new Error('no socket');
  const peer = fsx().peerCred(fd);
  if (peer.pid !== job.pid || peer.uid !== 0) throw new Error('the front is not the peer, or not root');
  for (const ns of ['mnt', 'net', 'pid', 'user', 'ipc', 'uts', 'cgroup']) {
    if (!sameFile(`/proc/${job.pid}/ns/${ns}`, `/proc/self/ns/${ns}`)) throw new Error(`another ${ns} namespace`);
  }
  if (!sameFile(`/proc/${job.pid}/root/`, '/')) throw new Error('another root');
  // a stdio fd the front has closed stays /dev/null here, as Node makes it at a start
  const fds = [0, 1, 2].map((i) => {
    try { return fsx().peerFds(fd, job.pid, [i])[0]!; } catch (e) { if ((e as NodeJS.ErrnoException).code === 'EBADF') return -1; throw e; }
  });
  process.chdir(job.cwd);
  for (const [i, from] of fds.entries()) if (from >= 0) { fsx().dup2(from, i); closeSync(from); }
  for (const k of Object.keys(process.env)) delete process.env[k];
  for (const kv of job.env) { const eq = kv.indexOf('='); if (eq > 0) process.env[kv.slice(0, eq)] = kv.slice(eq + 1); }
  process.umask(job.umask);
  try { setPriority(0); } catch { /* keeps the priority it started with */ }
}

/** How many commands a worker runs before it makes way for a fresh one (its heap only grows). */
const MAX_COMMANDS = 100;

/**
 * process.stdout and stderr as Node makes them (a tty, socket or file
 * stream for what the fd is on first use; never closed by end() or
 * destroy()), but made again for each command: Node's own are made once.
 */
function stdioStream(fd: 1 | 2): Writable {
  let s: Writable & { fd?: number; _isStdio?: boolean; _type?: string; destroySoon?: () => void; _refreshSize?: () => void; _handle?: { close(): void } };
  const st = isatty(fd) ? undefined : fstatSync(fd);
  if (!st) {
    s = new WriteStream(fd);
    s._type = 'tty';
    process.on('SIGWINCH', () => s._refreshSize!()); // taken back with the command's other listeners
  } else if (st.isFIFO() || st.isSocket()) {
    s = new NetSocket({ fd, readable: false, writable: true });
    s._type = 'pipe';
  } else {
    s = new Writable({ write(chunk: Buffer, _e, done) { try { for (let off = 0; off < chunk.length;) off += writeSync(fd, chunk, off); done(); } catch (e) { done(e as Error); } } });
    s._type = 'fs';
  }
  s.fd = fd;
  s._isStdio = true;
  s.destroySoon = s.destroy;
  s._destroy = function (this: Writable & { _undestroy(): void }, err, cb) { cb(err); this._undestroy(); };
  return s;
}

/** The stdio a command sees; between commands, nothing of a front's stays open here. */
class Stdio {
  private out: ReturnType<typeof stdioStream> | undefined;
  private err: ReturnType<typeof stdioStream> | undefined;
  /** process.stdin is Node's own, made once: a command that used it is this worker's last. */
  stdinUsed = false;
  sink: Writable | undefined;

  constructor() {
    const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!.get!;
    const define = (name: string, get: () => unknown) => Object.defineProperty(process, name, { configurable: true, enumerable: true, get });
    define('stdout', () => this.sink ?? (this.out ??= stdioStream(1)));
    define('stderr', () => this.sink ?? (this.err ??= stdioStream(2)));
    define('stdin', () => { this.stdinUsed = true; return stdin.call(process); });
  }

  /** Writes what is queued, then lets go of the front's files: /dev/null is fds 0-2 again. */
  async release(): Promise<void> {
    for (const s of [this.out, this.err]) if (s?.writableLength) await new Promise((res) => s.write('', res));
    for (const s of [this.out, this.err]) {
      s?.removeAllListeners();
      const handle = (s as { _handle?: { close(cb: () => void): void } } | undefined)?._handle;
      if (handle) await new Promise<void>((res) => handle.close(res)); // libuv leaves fds 0-2 open
    }
    this.out = this.err = undefined;
    const devnull = openSync('/dev/null', 'r+');
    for (const i of [0, 1, 2]) fsx().dup2(devnull, i);
    closeSync(devnull);
  }
}

/**
 * Runs a command that changes nothing (ps for a name no container has)
 * against berthd, so that what every command runs (the program, the API
 * client, the output) is compiled and warm when one comes.
 */
async function warmUp(main: (argv: string[]) => Promise<number>, stdio: Stdio, sock: string): Promise<void> {
  stdio.sink = new Writable({ write: (_c, _e, done) => done() });
  try {
    await main(['-H', `unix://${sock}`, 'ps', '-q', '--filter', 'name=^berth-cli-warm-up$']);
  } catch { /* only slower */ } finally {
    stdio.sink = undefined;
    process.exitCode = undefined;
  }
}

/** berthd's next hand-over: the front's connection, its command, and the signals it sent meanwhile. */
function nextJob(): Promise<{ socket: Socket; body: Buffer; signals: number[] }> {
  return new Promise((res) => {
    process.once('message', (m: { body: string; signals: number[] }, socket: Socket) => res({ socket, body: Buffer.from(m.body, 'base64'), signals: m.signals }));
  });
}

/** What a command may leave that would reach the next one: listeners on process, handles, timers and files still open. */
function snapshot(): { listeners: Map<string | symbol, Function[]>; open: string } { // eslint-disable-line @typescript-eslint/no-unsafe-function-type
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length; // unref'd ones too
  return {
    listeners: new Map(process.eventNames().map((e) => [e, process.listeners(e as 'exit')])),
    open: JSON.stringify([process.getActiveResourcesInfo().sort(), handles, readdirSync('/proc/self/fd').length]),
  };
}

/** Takes back what a command added to process; true when nothing of it is still open, so the next may run here. */
function restore(before: ReturnType<typeof snapshot>): boolean {
  for (const e of process.eventNames()) {
    const keep = before.listeners.get(e) ?? [];
    for (const l of process.listeners(e as 'exit')) if (!keep.includes(l)) process.off(e as 'exit', l as () => void);
  }
  process.exitCode = undefined;
  return snapshot().open === before.open;
}

/**
 * Serves fronts' commands, one at a time, as berthd hands them over: takes
 * each front's place and runs `main` with its arguments. A worker runs
 * commands until one leaves something open or reads stdin (or after
 * MAX_COMMANDS); it then ends with that command's exit code, which the
 * launcher exits with (written to the front at the exit).
 */
export async function serveWorker(main: (argv: string[]) => Promise<number>): Promise<number> {
  if (!process.send) throw new Error('a CLI worker is started by berthd');
  let busy = false, front: number | undefined;
  process.on('disconnect', () => { if (!busy) process.exit(0); }); // berthd is gone: no command will come
  process.on('exit', (code) => { if (front !== undefined) try { writeSync(front, `exit ${code}\n`); } catch { /* the front is gone */ } });
  const stdio = new Stdio();
  const sock = process.argv[4];
  if (sock) await warmUp(main, stdio, sock);
  for (let n = 1; ; n++) {
    const next = nextJob();
    process.send({ ready: true });
    const { socket, body, signals } = await next;
    busy = true;
    let job: Job;
    try {
      job = parseJob(body);
      takeOver(socket, job);
    } catch (e) {
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength((e as Error).message)}\r\n\r\n${(e as Error).message}`);
      return 0; // what it took over in part goes with it
    }
    front = fdOf(socket)!;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: berth-cli\r\nX-Berth-Worker: ${process.pid}\r\n\r\n`);
    // the front's signals, a byte each; its end (killed) is ours too
    const raise = (sigs: Iterable<number>) => { for (const sig of sigs) process.kill(process.pid, sig); };
    socket.on('data', raise);
    socket.on('end', () => process.kill(process.pid, 'SIGKILL'));
    socket.resume();
    socket.unref();
    const before = snapshot();
    setImmediate(raise, signals); // those that came before: once main has set up its handlers
    const code = await main(job.argv);
    if (stdio.stdinUsed || n >= MAX_COMMANDS) return code;
    await stdio.release();
    socket.removeAllListeners();
    for (let i = 0; i < 2; i++) await new Promise(setImmediate); // what the command closed is gone a loop turn later
    const status = `exit ${code}\n`;
    front = undefined;
    if (!restore(before)) { writeSync(fdOf(socket)!, status); process.exit(code); }
    socket.end(status);
    busy = false;
  }
}
