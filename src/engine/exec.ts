// Processes started in running containers (docker exec): their records,
// their start through a shim of their own, their stdio, and their end.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Conflict, InvalidInput, NotFound } from '../util/check.js';
import { discard } from '../util/fsx.js';
import { type Runtime, parseConfig } from '../runtime/index.js';
import { ociSpec } from './spec.js';
import { consoleSocket, replyLine, requestWhenUp, resize, shimVia, waitExit } from './shim.js';
import { parseDetachKeys, pipeAttach, withClientOutput } from './attach.js';
import type { ContainerRecord } from './records.js';

/** An exec whose process could not be started (its exit code is set: 126 or 127). */
export class ExecStartError extends Error {}

export interface ExecRecord {
  ID: string;
  ContainerID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; privileged: boolean; user: string };
  OpenStdin: boolean; OpenStderr: boolean; OpenStdout: boolean;
  Env: string[];
  WorkingDir: string;
  DetachKeys: string;
}

/** docker's rule for Env: later entries of a name replace earlier ones, in the first one's place. */
export function mergeEnv(base: string[], over: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) {
    const i = e.indexOf('=');
    out.set(i < 0 ? e : e.slice(0, i), e);
  }
  return [...out.values()];
}

/** What the engine lends the execs. */
export interface ExecHost {
  get(ref: string): ContainerRecord;
  etcDir(r: ContainerRecord): string;
  event(r: ContainerRecord, action: string, extra?: Record<string, string>): void;
  rootfs(r: ContainerRecord): string;
  runtime(): Runtime;
  execRoot(): string;
  execTrash(): string;
  cgroupParent(): string;
}

export class Execs {
  private readonly execs = new Map<string, ExecRecord & { dir: string }>();

  constructor(private readonly host: ExecHost) {}

  /** The exec's record (the health checks read its pid and exit code). */
  record(id: string): ExecRecord | undefined { return this.execs.get(id); }

  /** The IDs of a container's running execs (inspect's ExecIDs; null for none, as dockerd). */
  running(containerId: string): string[] | null {
    const ids = [...this.execs.values()].filter((e) => e.ContainerID === containerId && e.Running).map((e) => e.ID);
    return ids.length ? ids : null;
  }

  /** Forgets an exec (a health check's, once read). */
  forget(id: string): void { this.execs.delete(id); }

  create(ref: string, body: Record<string, unknown>): { Id: string } {
    const r = this.host.get(ref);
    if (!r.State.Running) throw new Conflict('container', `Container ${r.Id} is not running`);
    if (r.State.Paused) throw new Conflict('container', `Container ${r.Id} is paused, unpause the container before exec`);
    const cmd = body.Cmd as string[] | undefined;
    if (!Array.isArray(cmd) || cmd.length === 0) throw new InvalidInput('Cmd', 'No exec command specified');
    const detachKeys = typeof body.DetachKeys === 'string' ? body.DetachKeys : '';
    if (detachKeys) parseDetachKeys(detachKeys);
    const id = randomBytes(32).toString('hex');
    this.execs.set(id, {
      ID: id, ContainerID: r.Id, Running: false, ExitCode: null, Pid: 0,
      ProcessConfig: { tty: !!body.Tty, entrypoint: cmd[0]!, arguments: cmd.slice(1), privileged: !!body.Privileged, user: (body.User as string) ?? '' },
      OpenStdin: !!body.AttachStdin, OpenStdout: !!body.AttachStdout, OpenStderr: !!body.AttachStderr,
      Env: (body.Env as string[]) ?? [], WorkingDir: (body.WorkingDir as string) ?? '', DetachKeys: detachKeys,
      dir: join(this.host.execRoot(), 's', `x${id.slice(0, 23)}`),
    });
    this.host.event(r, `exec_create: ${cmd.join(' ')}`, { execID: id });
    return { Id: id };
  }

  inspect(id: string) {
    const e = this.execs.get(id);
    if (!e) throw new NotFound('exec', `No such exec instance: ${id}`);
    const { dir: _d, ...rest } = e;
    return { ...rest, CanRemove: false, ContainerID: e.ContainerID };
  }

  /** Starts an exec; with a socket its stdio is attached until it ends, its output framed unless `raw` (default: the exec's tty). */
  async start(id: string, socket: Socket | undefined, opts: { detach?: boolean; raw?: boolean; direct?: number } = {}): Promise<void> {
    const e = this.execs.get(id);
    if (!e) throw new NotFound('exec', `No such exec instance: ${id}`);
    if (e.Running || e.ExitCode !== null) throw new Conflict('exec', `Error: Exec command ${id} has already run`);
    const r = this.host.get(e.ContainerID);
    if (!r.State.Running) throw new Conflict('container', `Container ${r.Id} is not running`);
    const rootfs = this.host.rootfs(r);
    const user = e.ProcessConfig.user || r.Config.User || '';
    const dir = this.host.etcDir(r);
    const spec = ociSpec({
      id: r.Id, config: { ...r.Config, User: user, Cmd: [e.ProcessConfig.entrypoint, ...e.ProcessConfig.arguments], Entrypoint: null, Tty: e.ProcessConfig.tty, WorkingDir: e.WorkingDir || r.Config.WorkingDir, Env: mergeEnv(r.Config.Env ?? [], e.Env) },
      host: { ...r.HostConfig, Privileged: e.ProcessConfig.privileged || r.HostConfig.Privileged, Init: false },
      rootfs, etcFiles: { hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') }, mounts: [], cgroupParent: this.host.cgroupParent(),
    });
    const proc = parseConfig(JSON.stringify(spec)).process!;
    rmSync(e.dir, { recursive: true, force: true });
    mkdirSync(e.dir, { recursive: true, mode: 0o700 });
    const exitFile = join(e.dir, 'exit');
    const attach = !!socket && !opts.detach;
    const starting = this.host.runtime().exec(r.Id, proc, {
      detach: true,
      consoleSocket: proc.terminal ? consoleSocket(e.dir) : undefined,
      via: shimVia({ dir: e.dir, exitFile, exitNoSync: true, tty: proc.terminal, stdin: e.OpenStdin, stdinOnce: true, waitAttach: attach }),
    });
    let shimSock: Socket | undefined;
    if (attach) {
      const raw = opts.raw ?? e.ProcessConfig.tty;
      shimSock = await withClientOutput(socket, opts.direct, e.OpenStdin, e.ProcessConfig.tty || raw,
        (handOver) => requestWhenUp(e.dir, `attach ${e.OpenStdin ? 1 : 0} ${e.OpenStdout ? 1 : 0} ${e.OpenStderr ? 1 : 0} ${raw ? 1 : 0}`, starting, handOver)).catch(() => undefined);
      if (shimSock) await replyLine(shimSock);
    }
    let started;
    try { started = await starting; } catch (err) {
      shimSock?.destroy();
      // docker's codes: 127 when the command is not found, 126 when it cannot be run (not executable, a bad working directory)
      const why = (err as Error).message;
      e.ExitCode = /executable file not found/.test(why) ? 127 : 126;
      discard(e.dir, this.host.execTrash());
      this.host.event(r, 'exec_die', { execID: id, exitCode: String(e.ExitCode) });
      throw new ExecStartError(`OCI runtime exec failed: exec failed: unable to start container process: ${why}: unknown`);
    }
    e.Running = true;
    e.Pid = started.pid;
    this.host.event(r, `exec_start: ${[e.ProcessConfig.entrypoint, ...e.ProcessConfig.arguments].join(' ')}`, { execID: id });
    const finished = waitExit(e.dir, exitFile).then((x) => {
      e.Running = false;
      e.ExitCode = x.code;
      discard(e.dir, this.host.execTrash());
      this.host.event(r, 'exec_die', { execID: id, exitCode: String(x.code) });
    });
    // detached (docker exec -d): answered once started, as docker does
    if (!socket) { finished.catch(() => {}); return; }
    if (shimSock) {
      shimSock.resume();
      // the exec's output ends with the process: wait for both. A client that
      // detached (ctrl-p ctrl-q, or the exec's own keys) leaves it running;
      // as in dockerd, only with a tty: other stdin is data, passed on whole
      const keys = e.ProcessConfig.tty ? parseDetachKeys(e.DetachKeys || 'ctrl-p,ctrl-q') : undefined;
      const detached = await new Promise<boolean>((res) => pipeAttach(socket, shimSock!, e.OpenStdin, res, false, keys));
      if (detached) { finished.catch(() => {}); return; }
    }
    await finished;
    socket.end();
  }

  async resize(id: string, rows: number, cols: number): Promise<void> {
    const e = this.execs.get(id);
    if (!e) throw new NotFound('exec', `No such exec instance: ${id}`);
    if (e.Running && e.ProcessConfig.tty) await resize(e.dir, rows, cols);
  }

}
