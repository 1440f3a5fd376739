// berth-shim (native/shim): how berthd starts one and talks to it. The shim
// holds a container process's stdio, log and exit status and outlives the
// daemon; these helpers speak its one-line protocol on <dir>/shim.sock.
import { connect, Socket } from 'node:net';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { nativeBuild } from '../util/project.js';
import { fdOf, fsx } from '../util/fsx.js';

export interface ShimOptions {
  dir: string;
  exitFile: string;
  /** the exit file is not fsynced: an exec's, which no restart reads */
  exitNoSync?: boolean;
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  /** the process waits until a client attached (exec: nothing of its output is lost) */
  waitAttach?: boolean;
  log?: { path: string; maxSize: number; maxFile: number; format?: 'json' | 'local'; compress?: boolean };
}

export function shimPath(): string {
  return process.env.BERTH_SHIM ?? nativeBuild('berth-shim');
}

/** The `via` for Runtime.create/exec: the shim runs the executor and stays. */
export function shimVia(o: ShimOptions, stderr?: number) {
  const args = ['--dir', o.dir, '--exit', o.exitFile];
  if (o.exitNoSync) args.push('--exit-nosync');
  if (o.tty) args.push('--tty');
  if (o.stdin) args.push('--stdin');
  if (o.stdinOnce) args.push('--stdin-once');
  if (o.waitAttach) args.push('--wait-attach');
  if (o.log) args.push('--log', o.log.path, '--log-max-size', String(o.log.maxSize), '--log-max-file', String(o.log.maxFile), '--log-format', o.log.format ?? 'json');
  if (o.log?.compress) args.push('--log-compress');
  // the socket is made here and handed over listening: requests to it never wait for the shim to be up
  return { path: shimPath(), args, stderr, listen: join(o.dir, 'shim.sock') };
}

export const consoleSocket = (dir: string) => join(dir, 'console.sock');

/**
 * Sends one request line; resolves with the connected socket once the shim
 * accepted it. `handOver` goes along with the line: an attach's client
 * connection (see handOverFd), or the client's own stdout and stderr (see
 * clientOutput). The shim then writes the output there itself.
 */
export function request(dir: string, line: string, handOver?: number[]): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect(join(dir, 'shim.sock'));
    s.once('error', rej);
    // the shim may end at any moment: its going shows as 'close', never as a crash here
    s.once('connect', () => {
      s.off('error', rej);
      s.on('error', () => {});
      const fd = handOver === undefined ? undefined : fdOf(s);
      if (fd === undefined) s.write(`${line}\n`);
      else {
        try { fsx().sendFds(fd, handOver!, `${line}\n`); } catch (e) { s.destroy(); rej(e); return; }
      }
      res(s);
    });
  });
}

/**
 * The file descriptor of an API client's connection that the shim may write
 * output to directly (no copy through berthd): a raw socket with nothing
 * of ours still queued on it. Streams of other kinds (a health check's sink,
 * a non-upgraded HTTP response) are copied through berthd.
 */
export function handOverFd(client: unknown): number[] | undefined {
  const fd = client instanceof Socket && client.writableLength === 0 ? fdOf(client) : undefined;
  return fd === undefined ? undefined : [fd];
}

/**
 * The stdout and stderr of the process at the other end of an API client's
 * connection, for a client that asked to have its output written there
 * directly (the berth CLI: "X-Berth-Output: direct; pid=N"). That process
 * must be the pid it named, so one that reached the socket through a proxy
 * (whose own stdout this would be) is not taken. The copies (pidfd_getfd)
 * are the caller's to close once the shim has them. Undefined when they
 * cannot be taken: the output then comes framed on the connection, as for
 * any client.
 */
export function clientOutput(client: Socket, pid: number): number[] | undefined {
  const fd = fdOf(client);
  if (fd === undefined) return undefined;
  try { return fsx().peerFds(fd, pid, [1, 2]); } catch { return undefined; }
}

/** The pid of a client that asked for its output on its own stdout and stderr (see clientOutput), else undefined. */
export function directOutputPid(headers: Record<string, string | string[] | undefined>): number | undefined {
  const m = /^direct; pid=(\d+)$/.exec(String(headers['x-berth-output'] ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** Reads the shim's first reply line ("ok", "exit N", "error ..."), leaving the rest of the stream. */
export function replyLine(s: Socket): Promise<string> {
  return new Promise((res) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf(10);
      if (i < 0) return;
      s.off('data', onData); s.off('end', onEnd); s.off('error', onEnd);
      s.pause();
      const rest = buf.subarray(i + 1);
      if (rest.length) s.unshift(rest);
      res(buf.subarray(0, i).toString());
    };
    const onEnd = () => { s.off('data', onData); res(''); };
    s.on('data', onData); s.once('end', onEnd); s.once('error', onEnd);
  });
}

/** Connects once the shim listens (it is being started); gives up when `abandon` settles first. */
export async function requestWhenUp(dir: string, line: string, abandon: Promise<unknown>, handOver?: number[]): Promise<Socket> {
  let gaveUp = false;
  void abandon.then(() => { gaveUp = true; }, () => { gaveUp = true; });
  for (let i = 0; ; i++) {
    try { return await request(dir, line, handOver); } catch (e) {
      if (gaveUp || i > 5000) throw e;
      await new Promise((r) => setTimeout(r, i < 50 ? 1 : 5));
    }
  }
}

export interface ExitRecord { code: number; at: Date }

export function readExit(file: string): ExitRecord | undefined {
  if (!existsSync(file)) return undefined;
  const [code, at] = readFileSync(file, 'utf8').trim().split(' ');
  return { code: Number(code), at: new Date(Number(at) * 1000) };
}

/**
 * Resolves when the process the shim holds has ended: from the shim's answer,
 * or from the exit file when the shim is gone (it ended while nobody listened).
 */
export async function waitExit(dir: string, exitFile: string): Promise<ExitRecord> {
  let s: Socket | undefined;
  try { s = await request(dir, 'wait'); } catch { /* no shim: it has finished */ }
  if (s) {
    // the shim's answer, or its exit file (the shim writes it before it answers):
    // whichever comes first, so a connection lost in the shim's last moments cannot hang us
    let stop = false;
    const polled = (async () => { while (!stop && !readExit(exitFile)) await new Promise((r) => setTimeout(r, 200)); })();
    await Promise.race([replyLine(s), polled]);
    stop = true;
    s.destroy();
  }
  for (let i = 0; i < 100; i++) {
    const e = readExit(exitFile);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 10));
  }
  // the shim died without recording a status (killed): the process is gone too
  return { code: 137, at: new Date() };
}

export async function resize(dir: string, rows: number, cols: number): Promise<void> {
  const s = await request(dir, `resize ${rows} ${cols}`);
  const r = await replyLine(s);
  s.destroy();
  if (r !== 'ok') throw new Error(r.replace(/^error /, '') || 'resize failed');
}

/**
 * Kills the shim serving `dir`: one a crash left holding no container (the
 * daemon died before the runtime made it), which would wait for it forever.
 */
export function killShim(dir: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd: string[];
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    if (cmd[0]?.endsWith('berth-shim') && cmd[cmd.indexOf('--dir') + 1] === dir) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
  }
}
