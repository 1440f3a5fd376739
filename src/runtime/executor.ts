// Hands a plan to native/executor (berth-exec) and reads its report.
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync } from 'node:fs';
import { Socket } from 'node:net';
import { fsx } from '../util/fsx.js';
import { encodePlan, type Plan } from './plan.js';
import { nativeBuild } from '../util/project.js';
import { ALL_CAPABILITIES } from './caps.js';

let cached: string | undefined, cachedFor: string | undefined;
export function executorPath(): string {
  // a runtime server takes each command's environment: BERTH_EXEC may differ between them
  if (cached && cachedFor === process.env.BERTH_EXEC) return cached;
  const p = process.env.BERTH_EXEC ?? nativeBuild('berth-exec');
  if (!existsSync(p)) throw new Error(`executor not built: ${p} is missing (run npm install)`);
  cachedFor = process.env.BERTH_EXEC;
  return (cached = p);
}

/**
 * Starts a program as the child of another process: the runtime CLI's
 * front when a runtime server runs the command (src/cli/runtime-server.ts),
 * since a container's process must descend from the runtime's caller.
 * `fds`: [number in the child, our fd]; ours may be closed once it resolves.
 */
export type Spawner = (path: string, argv: string[], fds: [number, number][]) => Promise<{ pid: number; reaped: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }>;

let spawner: Spawner | undefined;
/** Executors started by the spawner that have not ended: the Node CLI, their parent, would wait for them before it ends. */
const spawned = new Set<Promise<unknown>>();
export async function spawnedExecutorsEnded(): Promise<void> { await Promise.all(spawned); }
/** Executors started from now on (without `via`) are started by `s`; undefined: as Node's children again. */
export function spawnExecutorsWith(s: Spawner | undefined): void { spawner = s; }

export class ExecutorError extends Error {}

export interface RunningExecutor {
  /** The container init's pid, once the executor reported it. */
  pid: Promise<number>;
  /** How the executor ended: the container's status when it supervised. */
  done: Promise<{ exitCode: number }>;
  kill(sig: NodeJS.Signals | number): void;
}

export interface ExecutorOptions {
  stdio?: [StdioOptions | number | 'inherit' | 'pipe' | 'ignore', unknown, unknown] | 'inherit';
  preserveFds?: number;
  /** Re-exec from a sealed copy (the plan joins a pid namespace others live in). */
  protectExe?: boolean;
  /**
   * Start the executor through a supervisor (berth-shim): `path args -- executor ...`,
   * detached. The supervisor passes the plan on fd 3 and forwards the report on its stdout.
   */
  /** a supervisor that runs the executor; `listen`: a unix socket it is handed listening, as --listen-fd 5 */
  via?: { path: string; args: string[]; stderr?: number; listen?: string };
  /** Called with the child's pid when the plan reports its namespaces made ("ns N"), before the setup ends. */
  onNamespaces?: (pid: number) => void;
}

export function runExecutor(plan: Plan, opts: ExecutorOptions = {}): RunningExecutor {
  if (opts.via) return runVia(plan, opts.via, opts.protectExe, opts.onNamespaces);
  const n = opts.preserveFds ?? 0;
  const planFd = 3 + n, reportFd = 4 + n;
  const args = ['--plan-fd', String(planFd), '--report-fd', String(reportFd)];
  if (opts.protectExe) args.push('--protect-exe');
  if (spawner && (opts.stdio === undefined || opts.stdio === 'inherit')) return runSpawned(spawner, plan, args, planFd, reportFd, opts.onNamespaces);
  const base = opts.stdio === undefined || opts.stdio === 'inherit' ? ['inherit', 'inherit', 'inherit'] : opts.stdio;
  const stdio: unknown[] = [...base];
  for (let i = 0; i < n; i++) stdio.push(3 + i);
  stdio.push('pipe', 'pipe');
  const child = spawn(executorPath(), args, { stdio: stdio as StdioOptions });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
  return readReport(child.stdio[planFd] as NodeJS.WritableStream, child.stdio[reportFd] as NodeJS.ReadableStream, plan, ended, (sig) => child.kill(sig), false, opts.onNamespaces);
}

/** The executor as another process's child (see Spawner): its stdio and the fds before the plan's are that process's. */
function runSpawned(spawn: Spawner, plan: Plan, args: string[], planFd: number, reportFd: number, onNamespaces?: (pid: number) => void): RunningExecutor {
  const f = fsx();
  const [planR, planW] = f.pipe();
  const [reportR, reportW] = f.pipe();
  const started = spawn(executorPath(), args, [[planFd, planR], [reportFd, reportW]]);
  const close = () => { closeSync(planR); closeSync(reportW); };
  void started.then(close, close);
  const planPipe = new Socket({ fd: planW, readable: false, writable: true });
  const report = new Socket({ fd: reportR, readable: true, writable: false });
  // the plan is read by then: nothing of this executor is left open here once its report ends
  const reportClosed = new Promise<void>((res) => report.once('close', () => { planPipe.destroy(); res(); }));
  // ended once reaped and its report read to the end, as Node's 'close' is
  const ended = started.then(({ reaped }) => reaped, (e: Error) => { planPipe.destroy(); report.destroy(); throw e; })
    .then(async (r) => { await reportClosed; return r; }, (e: Error) => ({ code: null, signal: null, error: e }));
  let pid = 0;
  void started.then((s) => { pid = s.pid; }, () => {});
  spawned.add(ended);
  void ended.then(() => spawned.delete(ended));
  return readReport(planPipe, report, plan, ended, (sig) => { if (pid) try { process.kill(pid, sig); } catch { /* gone */ } }, false, onNamespaces);
}

/** Supervisors started by runVia: not Node's children, so reaped here whenever a child ends. */
const supervisors = new Set<number>();
const reapSupervisors = () => { for (const p of supervisors) if (fsx().reap(p)) supervisors.delete(p); };

let sealed: number | undefined;
/** One sealed copy of the executor for the daemon's life (see native/fsx sealedCopy); -1 when it cannot be made. */
function sealedExecutor(): number {
  if (sealed === undefined) { try { sealed = fsx().sealedCopy(executorPath()); } catch { sealed = -1; } }
  return sealed;
}

/**
 * The supervisor is started with posix_spawn (fsx.spawn), not Node's
 * spawn: Node forks first, and copying a daemon's page tables took ~3 ms of
 * every container start and exec.
 */
function runVia(plan: Plan, via: NonNullable<ExecutorOptions['via']>, protectExe?: boolean, onNamespaces?: (pid: number) => void): RunningExecutor {
  const f = fsx();
  // protected: run from the sealed copy (fd 6), which the executor recognises and does not copy again
  const exe = protectExe ? sealedExecutor() : -1;
  const args = [...via.args, ...(via.listen ? ['--listen-fd', '5'] : []), ...(exe >= 0 ? ['--exec-fd', '6'] : []), '--', executorPath(), '--plan-fd', '3', '--report-fd', '4'];
  if (protectExe) args.push('--protect-exe');
  const listening = via.listen ? f.listenUnix(via.listen) : -1;
  const [planR, planW] = f.pipe();
  const [reportR, reportW] = f.pipe();
  let pid: number;
  try {
    pid = f.spawn(via.path, [via.path, ...args], [-1, reportW, via.stderr ?? -1, planR, -1, listening, ...(exe >= 0 ? [exe] : [])]);
  } catch (e) {
    closeSync(planW);
    closeSync(reportR);
    throw e;
  } finally {
    closeSync(planR);
    closeSync(reportW);
    if (listening >= 0) closeSync(listening);
  }
  if (!process.listeners('SIGCHLD').includes(reapSupervisors)) process.on('SIGCHLD', reapSupervisors);
  supervisors.add(pid);
  reapSupervisors(); // one that ended before the listener was there
  const planPipe = new Socket({ fd: planW, readable: false, writable: true });
  const report = new Socket({ fd: reportR, readable: true, writable: false });
  // the supervisor outlives us: once its report ends, it has taken over and nothing here holds it
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => report.once('close', () => { planPipe.destroy(); res({ code: 0, signal: null }); }));
  return readReport(planPipe, report, plan, ended, (sig) => { try { process.kill(pid, sig); } catch { /* gone */ } }, true, onNamespaces);
}

/**
 * With `atEnd`, the pid is given when the report ends without an error (the
 * supervisor is ready then). `ended`: the executor (or the supervisor's
 * report) is done.
 */
function readReport(planPipe: NodeJS.WritableStream, report: NodeJS.ReadableStream, plan: Plan, ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>, kill: RunningExecutor['kill'], atEnd = false, onNamespaces?: (pid: number) => void): RunningExecutor {
  planPipe.end(encodePlan(plan));
  planPipe.on('error', () => { /* the executor reports why it stopped reading */ });
  let buf = '', error = '', exitCode = -1, seen = 0;
  let resolvePid!: (p: number) => void, rejectPid!: (e: Error) => void;
  const pid = new Promise<number>((res, rej) => { resolvePid = res; rejectPid = rej; });
  pid.catch(() => {});
  report.setEncoding?.('utf8');
  report.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('pid ')) { seen = Number(line.slice(4)); if (!atEnd) resolvePid(seen); }
      else if (line.startsWith('ns ')) onNamespaces?.(Number(line.slice(3)));
      else if (line.startsWith('error ')) error = line.slice(6).replace(/\bcap (\d+)\b/, (_, n: string) => ALL_CAPABILITIES[Number(n)] ?? `capability ${n}`);
      else if (line.startsWith('exit ')) exitCode = Number(line.slice(5));
      else if (line.startsWith('signal ')) exitCode = 128 + Number(line.slice(7));
    }
  });
  const done = new Promise<{ exitCode: number }>((res) => {
    if (atEnd) report.on('end', () => {
      if (error) rejectPid(new ExecutorError(error));
      else if (seen) resolvePid(seen);
      else rejectPid(new ExecutorError('the supervisor ended before the process started'));
    });
    void ended.then(({ code, signal, error: unstarted }) => {
      rejectPid(new ExecutorError(error || unstarted?.message || `executor exited with ${code ?? signal}`));
      res({ exitCode: exitCode >= 0 ? exitCode : code ?? 1 });
    });
  });
  return { pid, done, kill };
}
