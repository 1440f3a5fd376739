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
import { Writable } from 'node:stream';
import { Stdio, parseJob, serveFront, takeOver, type Job } from './handover.js';

/** How many commands a worker runs before it makes way for a fresh one (its heap only grows). */
const MAX_COMMANDS = 100;

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

/**
 * Serves fronts' commands, one at a time, as berthd hands them over: takes
 * each front's place and runs `main` with its arguments. A worker runs
 * commands until one leaves something open or reads stdin (or after
 * MAX_COMMANDS); it then ends with that command's exit code, which the
 * launcher exits with (written to the front at the exit).
 */
export async function serveWorker(main: (argv: string[]) => Promise<number>): Promise<number> {
  if (!process.send) throw new Error('a CLI worker is started by berthd');
  let busy = false;
  process.on('disconnect', () => { if (!busy) process.exit(0); }); // berthd is gone: no command will come
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
    const { code, reusable } = await serveFront(socket, job, signals, main, stdio, 'berth-cli', n >= MAX_COMMANDS);
    if (!reusable) return code;
    busy = false;
  }
}
