// Hands a plan to native/executor (berth-exec) and reads its report.
import { spawn, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { encodePlan, type Plan } from './plan.js';
import { nativeBuild } from '../util/project.js';
import { ALL_CAPABILITIES } from './caps.js';

let cached: string | undefined;
export function executorPath(): string {
  if (cached) return cached;
  const p = process.env.BERTH_EXEC ?? nativeBuild('berth-exec');
  if (!existsSync(p)) throw new Error(`executor not built: ${p} is missing (run npm install)`);
  return (cached = p);
}

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
}

export function runExecutor(plan: Plan, opts: ExecutorOptions = {}): RunningExecutor {
  const n = opts.preserveFds ?? 0;
  const planFd = 3 + n, reportFd = 4 + n;
  const base = opts.stdio === undefined || opts.stdio === 'inherit' ? ['inherit', 'inherit', 'inherit'] : opts.stdio;
  const stdio: unknown[] = [...base];
  for (let i = 0; i < n; i++) stdio.push(3 + i);
  stdio.push('pipe', 'pipe');
  const args = ['--plan-fd', String(planFd), '--report-fd', String(reportFd)];
  if (opts.protectExe) args.push('--protect-exe');
  const child = spawn(executorPath(), args, { stdio: stdio as StdioOptions });
  const planPipe = child.stdio[planFd] as NodeJS.WritableStream;
  planPipe.end(encodePlan(plan));
  planPipe.on('error', () => { /* the executor reports why it stopped reading */ });
  const report = child.stdio[reportFd] as NodeJS.ReadableStream;
  let buf = '', error = '', exitCode = -1;
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
      if (line.startsWith('pid ')) resolvePid(Number(line.slice(4)));
      else if (line.startsWith('error ')) error = line.slice(6).replace(/\bcap (\d+)\b/, (_, n: string) => ALL_CAPABILITIES[Number(n)] ?? `capability ${n}`);
      else if (line.startsWith('exit ')) exitCode = Number(line.slice(5));
      else if (line.startsWith('signal ')) exitCode = 128 + Number(line.slice(7));
    }
  });
  const done = new Promise<{ exitCode: number }>((res) => {
    child.on('close', (code, sig) => {
      const e = new ExecutorError(error || `executor exited with ${code ?? sig}`);
      rejectPid(e);
      res({ exitCode: exitCode >= 0 ? exitCode : code ?? 1 });
    });
  });
  return { pid, done, kill: (sig) => child.kill(sig) };
}
