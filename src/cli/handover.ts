// What the two kinds of Node process that serve C fronts share (berth CLI
// workers, src/cli/worker.ts; the runtime server, runtime-server.ts): the
// command a front sends, taking the front's place (its stdin, stdout,
// stderr, environment, directory and umask), giving them back, and the
// link to the front (native/cli/handover.c), which passes on its signals
// and starts the programs asked of it as its own children.
import type { Socket } from 'node:net';
import { closeSync, fstatSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { Socket as NetSocket } from 'node:net';
import { isatty, WriteStream } from 'node:tty';
import { constants } from 'node:os';
import { Writable } from 'node:stream';
import { fdOf, fsx } from '../util/fsx.js';

/** A command the front hands over (its fields: see front.c payload()). */
export interface Job { pid: number; umask: number; cwd: string; argv: string[]; env: string[] }

export function parseJob(body: Buffer): Job {
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
export function takeOver(socket: Socket, job: Job): void {
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
  try { fsx().schedIdle(false); } catch { /* keeps the priority it started with */ }
}

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
export class Stdio {
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

/** What a command may leave that would reach the next one: listeners on process, handles, timers and files still open. */
export function snapshot(): { listeners: Map<string | symbol, Function[]>; open: string } { // eslint-disable-line @typescript-eslint/no-unsafe-function-type
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length; // unref'd ones too
  return {
    listeners: new Map(process.eventNames().map((e) => [e, process.listeners(e as 'exit')])),
    open: JSON.stringify([process.getActiveResourcesInfo().sort(), handles, readdirSync('/proc/self/fd').length]),
  };
}

/** Takes back what a command added to process; true when nothing of it is still open, so the next may run here. */
export function restore(before: ReturnType<typeof snapshot>): boolean {
  for (const e of process.eventNames()) {
    const keep = before.listeners.get(e) ?? [];
    for (const l of process.listeners(e as 'exit')) if (!keep.includes(l)) process.off(e as 'exit', l as () => void);
  }
  process.exitCode = undefined;
  return snapshot().open === before.open;
}


/** The fd of the front being served: the status is written to it when the process ends during a command. */
let served: number | undefined;
process.on('exit', (code) => { if (served !== undefined) try { writeSync(served, `exit ${code}\n`); } catch { /* the front is gone */ } });

/**
 * Serves a front whose place this process has taken: answers 101, runs
 * `main` with its arguments and the link to it, gives its files back and
 * sends the status. `reusable`: false when the command left something open
 * or read stdin (or `last`): the process must end, with `code`.
 */
export async function serveFront(socket: Socket, job: Job, signals: Iterable<number>, main: (argv: string[], link: FrontLink) => Promise<number>, stdio: Stdio, upgrade: string, last: boolean): Promise<{ code: number; reusable: boolean }> {
  served = fdOf(socket)!;
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\nX-Berth-Worker: ${process.pid}\r\n\r\n`);
  const link = new FrontLink(socket);
  const before = snapshot();
  setImmediate(() => link.raise(signals)); // those that came before: once main has set up its handlers
  const code = await main(job.argv, link);
  if (stdio.stdinUsed || last) return { code, reusable: false };
  await stdio.release();
  socket.removeAllListeners();
  for (let i = 0; i < 2; i++) await new Promise(setImmediate); // what the command closed is gone a loop turn later
  const status = `exit ${code}\n`;
  served = undefined;
  if (!restore(before)) { writeSync(fdOf(socket)!, status); process.exit(code); }
  socket.end(status);
  return { code, reusable: true };
}

export interface Reaped { code: number | null; signal: NodeJS.Signals | null }

/**
 * The link to a front once it is served: the signals it passes on (a byte
 * each) are raised here, its end ends us, and `spawn` has it start a
 * program as its child (the runtime's executors must descend from its
 * caller), with fds of ours placed at the numbers given.
 */
export class FrontLink {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: { resolve(pid: number): void; reject(e: Error): void }[] = [];
  private readonly children = new Map<number, (r: Reaped) => void>();
  private readonly early = new Map<number, Reaped>();

  constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.read(d));
    socket.on('end', () => process.kill(process.pid, 'SIGKILL')); // the front was killed: the command goes with it
    socket.resume();
    socket.unref();
  }

  raise(sigs: Iterable<number>): void { for (const sig of sigs) process.kill(process.pid, sig); }

  private read(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length) {
      if (this.buf[0]! < 0x80) { this.raiseLeading(); continue; }
      const nl = this.buf.indexOf(10);
      if (nl < 0) return; // the rest of a message is still to come
      const [kind, a, b] = this.buf.subarray(1, nl).toString().split(' ');
      this.buf = this.buf.subarray(nl + 1);
      this.message(kind, Number(a), Number(b));
    }
  }

  /** Signals are single bytes below 0x80: raises those at the front of what came. */
  private raiseLeading(): void {
    const n = this.buf.findIndex((b) => b >= 0x80);
    const k = n < 0 ? this.buf.length : n;
    this.raise(this.buf.subarray(0, k));
    this.buf = this.buf.subarray(k);
  }

  /** A message (0xFF, then a line): the pid of a program started, the errno of one that was not, or a child reaped. */
  private message(kind: string | undefined, a: number, b: number): void {
    if (kind === 'pid') this.waiting.shift()?.resolve(a);
    else if (kind === 'spawnerr') this.waiting.shift()?.reject(Object.assign(new Error(`the front could not start the program: errno ${a}`), { errno: a }));
    else if (kind === 'reaped') this.reaped(a, b);
  }

  private reaped(pid: number, status: number): void {
    const r: Reaped = (status & 0x7f) === 0 ? { code: (status >> 8) & 0xff, signal: null } : { code: null, signal: signalName(status & 0x7f) };
    const cb = this.children.get(pid);
    if (cb) { this.children.delete(pid); cb(r); } else this.early.set(pid, r);
  }

  /** Starts `path` with `argv` as the front's child; `fds`: [number in the child, our fd]. Our fds may be closed once the pid is given. */
  async spawn(path: string, argv: string[], fds: [number, number][]): Promise<{ pid: number; reaped: Promise<Reaped> }> {
    const body = Buffer.from(`${fds.map(([t, s]) => `${t}:${s}`).join(',')}\0${[path, ...argv].map((a) => `${a}\0`).join('')}`);
    const pid = await new Promise<number>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(Buffer.concat([Buffer.from(`spawn ${body.length}\n`), body]));
    });
    const reaped = new Promise<Reaped>((res) => {
      const r = this.early.get(pid);
      if (r) { this.early.delete(pid); res(r); } else this.children.set(pid, res);
    });
    return { pid, reaped };
  }
}

function signalName(n: number): NodeJS.Signals {
  return (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? 'SIGKILL') as NodeJS.Signals;
}
