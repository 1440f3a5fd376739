// berthd's CLI workers (src/cli/worker.ts): berth CLIs started ahead of
// need, which run the commands of fronts (native/cli/front.c) one after
// another. A front asks on berthd's socket ("POST /berth/cli", Upgrade:
// berth-cli); berthd hands its connection to a ready worker, which is ready
// again when the command is done, or ends and is replaced. berthd answers
// 503 when it cannot (the front then starts the Node CLI itself): a front of
// another checkout, a CLI rebuilt since the workers started, or no worker
// ready in time. Only root's fronts are served (the worker checks).
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { fork, type ChildProcess } from 'node:child_process';
import { realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setPriority } from 'node:os';
import { upgradeBody } from '../util/upgrade-body.js';

/** How long a front waits for a worker that is starting; the Node CLI would take longer. */
const WAIT_MS = 400;
/**
 * When a worker is started again while the command that took the last one
 * still runs. A start, even on idle CPU, costs a command that runs meanwhile
 * (berthd's fork, the exec, caches): a pull through berthd took ~150 ms
 * longer with one, so one comes only for commands that run long.
 */
const REFILL_AFTER_MS = 2000;
/** A command line and environment larger than this is not one a front sends. */
const MAX_JOB = 4 << 20;

export class CliWorkers {
  private ready: ChildProcess[] = [];
  private readonly starting = new Set<ChildProcess>();
  private readonly refill = new Map<ChildProcess, NodeJS.Timeout>();
  /** The bundle a worker loaded: one of a CLI since built again is not given another command. */
  private readonly stampOf = new WeakMap<ChildProcess, string>();
  private readonly waiting: ((w: ChildProcess) => void)[] = [];
  private readonly dist: string;
  private stamp: string;
  private closed = false;

  /** `dist`: the bundles the workers run; `size`: how many are kept ready; `socket`: berthd's, named in their command lines. */
  constructor(dist: string, private readonly size: number, private readonly socket: string) {
    this.dist = realpathSync(dist);
    this.stamp = this.bundleStamp();
  }

  /** Changes when the berth bundle is built again. */
  private bundleStamp(): string {
    try { const s = statSync(join(this.dist, 'berth.cjs')); return `${s.ino}:${s.size}:${s.mtimeMs}`; } catch { return ''; }
  }

  private spawn(): void {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS; // each command brings its own environment; this only slows the start
    const w = fork(join(this.dist, 'launcher.cjs'), ['berth', '--cli-worker', this.socket], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env, execArgv: [] });
    this.starting.add(w);
    this.stampOf.set(w, this.stamp);
    // a worker starts on idle CPU, not the commands' (it takes normal priority with its command: worker.ts)
    try { if (w.pid) setPriority(w.pid, 19); } catch { /* started all the same */ }
    w.on('message', () => this.idle(w)); // ready: started, or done with a command
    w.once('exit', () => {
      clearTimeout(this.refill.get(w));
      this.refill.delete(w);
      this.starting.delete(w);
      this.ready = this.ready.filter((x) => x !== w);
      this.fill();
    });
    w.on('error', () => { /* seen as its exit */ });
  }

  /** A worker is ready: for a front that waits, else kept (up to `size`). */
  private idle(w: ChildProcess): void {
    this.starting.delete(w);
    clearTimeout(this.refill.get(w));
    this.refill.delete(w);
    const waiter = this.stampOf.get(w) === this.stamp ? this.waiting.shift() : undefined;
    if (this.stampOf.get(w) !== this.stamp) w.kill();
    else if (waiter) waiter(w);
    else if (this.ready.length < this.size && !this.closed) this.ready.push(w);
    else w.kill();
  }

  /** Keeps `size` workers ready or starting (busy ones come back, or are replaced when they end). */
  private fill(): void {
    while (!this.closed && this.ready.length + this.starting.size < this.size) this.spawn();
  }

  owns(path: string): boolean { return path === '/berth/cli'; }

  /** Serves a front's request: hands its connection to a worker, or refuses. */
  handle(raw: IncomingMessage, socket: Socket, head: Buffer): void {
    const refuse = (why: string) => socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(why)}\r\nConnection: close\r\n\r\n${why}`);
    const length = Number(raw.headers['content-length']);
    if (!(length > 0 && length <= MAX_JOB)) { refuse('bad Content-Length'); return; }
    if (this.size === 0 || this.closed) { refuse('no CLI workers here'); return; }
    if (raw.headers['x-berth-dist'] !== this.dist) { refuse(`this berthd runs the CLI of ${this.dist}`); return; }
    const stamp = this.bundleStamp();
    if (stamp !== this.stamp) {
      this.stamp = stamp;
      for (const w of [...this.ready.splice(0), ...this.starting]) w.kill();
      this.starting.clear();
      this.fill();
      refuse('the berth CLI was built again');
      return;
    }
    const w = this.ready.shift();
    if (!w) {
      this.fill();
      // each front that waits has a starting worker coming to it; more (a burst) start the Node CLI at once
      if (this.waiting.length >= this.starting.size) { refuse('no CLI worker ready'); return; }
    }
    // the body is read here: what berthd's socket has buffered would not go with its fd
    const job = upgradeBody(socket, head, length).then(({ body, rest }) => {
      if (body.length < length) throw new Error('cut short');
      // after the body, only the front's signals (a byte each) come before the worker answers
      const more = socket.read() as Buffer | null;
      return { body: body.toString('base64'), signals: [...rest, ...(more ?? [])] };
    });
    job.catch(() => socket.destroy()); // the front went before it was served
    const give = (w: ChildProcess) => {
      job.then((m) => w.send(m, socket, (e) => { if (e) socket.destroy(); }), () => this.idle(w)); // no command came: it is still ready
      // A starting worker slows the commands that run meanwhile, and this
      // one is back when its command ends: while another is ready, one more
      // starts only if this command runs long.
      if (!this.ready.length) { this.fill(); return; }
      this.refill.set(w, setTimeout(() => { this.refill.delete(w); this.fill(); }, REFILL_AFTER_MS));
    };
    if (w) { give(w); return; }
    const timer = setTimeout(() => {
      const i = this.waiting.indexOf(take);
      if (i >= 0) this.waiting.splice(i, 1);
      refuse('no CLI worker ready');
    }, WAIT_MS);
    const take = (x: ChildProcess) => { clearTimeout(timer); give(x); };
    this.waiting.push(take);
  }

  /** Ends the workers that wait (those running a command are on their own). */
  close(): void {
    this.closed = true;
    for (const w of [...this.ready.splice(0), ...this.starting]) w.kill();
    this.starting.clear();
    for (const t of this.refill.values()) clearTimeout(t);
  }
}
