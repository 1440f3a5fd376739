// A CLI worker: the berth CLI, started by berthd before it is needed (see
// src/cli/worker-pool.ts), that runs one command for the C front
// (native/cli/front.c), which so starts in a millisecond, not Node's 40.
// It takes the front's stdin, stdout and stderr as its own, its environment,
// working directory and umask, and runs the command exactly as the Node CLI
// would; the front passes on the signals it gets and ends with our exit code.
// Nothing here touches process.stdout, stderr or stdin before they are the
// front's: Node makes them on first use, of the kind their file is.
import type { Socket } from 'node:net';
import { closeSync, statSync, writeSync } from 'node:fs';
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

/**
 * Runs a command that changes nothing (ps for a name no container has)
 * against berthd, so that what every command runs (the program, the API
 * client, the output) is compiled and warm when one comes. Its output goes
 * nowhere: process.stdout and stderr are stand-ins meanwhile, and Node
 * makes its own later, for the front's files.
 */
async function warmUp(main: (argv: string[]) => Promise<number>, sock: string): Promise<void> {
  const names = ['stdout', 'stderr'] as const;
  const saved = names.map((n) => Object.getOwnPropertyDescriptor(process, n)!);
  const sink = new Writable({ write: (_c, _e, done) => done() });
  for (const n of names) Object.defineProperty(process, n, { configurable: true, enumerable: true, get: () => sink });
  try {
    await main(['-H', `unix://${sock}`, 'ps', '-q', '--filter', 'name=^berth-cli-warm-up$']);
  } catch { /* only slower */ } finally {
    names.forEach((n, i) => Object.defineProperty(process, n, saved[i]!));
    process.exitCode = undefined;
  }
}

/**
 * Waits for berthd's hand-over of a front's connection, takes over, and runs
 * `main` with the front's arguments: its exit code, which the launcher ends
 * the process with (written to the front at the exit).
 */
export async function serveWorker(main: (argv: string[]) => Promise<number>): Promise<number> {
  if (!process.send) throw new Error('a CLI worker is started by berthd');
  let taken = false;
  process.once('disconnect', () => { if (!taken) process.exit(0); }); // berthd is gone before any command came
  const handed = new Promise<{ socket: Socket; body: Buffer; signals: number[] }>((res) => {
    process.once('message', (m: { body: string; signals: number[] }, socket: Socket) => { taken = true; res({ socket, body: Buffer.from(m.body, 'base64'), signals: m.signals }); });
  });
  const sock = process.argv[4];
  if (sock) await warmUp(main, sock);
  process.send({ ready: true });
  const { socket, body, signals } = await handed;
  process.disconnect();
  let job: Job;
  try {
    job = parseJob(body);
    takeOver(socket, job);
  } catch (e) {
    socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength((e as Error).message)}\r\n\r\n${(e as Error).message}`);
    return 0;
  }
  const fd = fdOf(socket)!;
  socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: berth-cli\r\n\r\n');
  // the front's signals, a byte each; its end (killed) is ours too
  const raise = (sigs: Iterable<number>) => { for (const sig of sigs) process.kill(process.pid, sig); };
  setImmediate(raise, signals); // those that came before: once main has set up its handlers
  socket.on('data', raise);
  socket.on('end', () => process.kill(process.pid, 'SIGKILL'));
  socket.resume();
  socket.unref();
  process.on('exit', (code) => { try { writeSync(fd, `exit ${code}\n`); } catch { /* the front is gone */ } });
  return main(job.argv);
}
