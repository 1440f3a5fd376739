// A client's attach or exec stream joined to a container's shim: stdin in
// (with docker's detach keys), output out, or handed to the shim to write
// itself.
import { closeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { InvalidInput } from '../util/check.js';
import { clientOutput, handOverFd, replyLine, request } from './shim.js';
import type { ContainerRecord } from './records.js';

/** docker's --detach-keys ("ctrl-p,ctrl-q", "ctrl-a,x") as bytes. */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  for (const k of spec.split(',')) {
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(k);
    if (m) out.push(m[1]!.charCodeAt(0) & 0x1f);
    else if (k.length === 1) out.push(k.charCodeAt(0));
    else throw new InvalidInput('detachKeys', `invalid detach key "${k}" (use a letter or ctrl-<letter>, comma separated)`);
  }
  return Buffer.from(out);
}

/**
 * Sends an attach request to a shim (`send`) with what its output goes to:
 * the client's own stdout and stderr when it asked for them (`direct`: its
 * pid, see clientOutput), else its connection (see handOverFd). Not with a
 * tty, whose raw stream has no room for the shim's in-band error, nor with
 * stdin, whose detach keys must end the output. berthd's copies of the
 * client's descriptors are closed once sent.
 */
export async function withClientOutput<T>(client: Socket, direct: number | undefined, stdin: boolean, tty: boolean, send: (handOver: number[] | undefined) => Promise<T>): Promise<T> {
  const own = direct && !stdin && !tty ? clientOutput(client, direct) : undefined;
  try { return await send(own ?? handOverFd(client)); } finally { for (const fd of own ?? []) closeSync(fd); }
}

/**
 * Client stdin → shim, shim output → client; `done` when the output ends or the client detached.
 * Without `endClient` the caller ends the client (an exec: after its exit code is known).
 */
export function pipeAttach(client: Socket, shim: Socket, stdin: boolean, done: (detached: boolean) => void, endClient = true, detachKeys?: Buffer): void {
  shim.pipe(client, { end: endClient });
  let finished = false;
  const end = () => { if (!finished) { finished = true; done(detached); } };
  let detached = false;
  if (stdin && detachKeys?.length) {
    // the detach sequence ends this client only: the connection to the shim stays
    // (parked, its output dropped) so the container's stdin is not closed
    let held: number[] = [];
    const send = (b: Buffer) => { if (!shim.write(b)) { client.pause(); shim.once('drain', () => client.resume()); } }; // as pipe() would: the shim's pace
    client.on('data', (d: Buffer) => {
      if (detached) return;
      // most input holds no byte of the sequence: it goes on whole
      if (!held.length && !d.includes(detachKeys[0]!)) { send(d); return; }
      const out: number[] = [];
      for (const byte of d) {
        if (byte === detachKeys[held.length]) {
          held.push(byte);
          if (held.length < detachKeys.length) continue;
          if (out.length) send(Buffer.from(out));
          detached = true;
          shim.unpipe(client);
          shim.resume();
          client.end();
          end();
          return;
        }
        out.push(...held);
        held = [];
        if (byte === detachKeys[0]) held.push(byte); else out.push(byte);
      }
      if (out.length) send(Buffer.from(out));
    });
    client.on('end', () => { if (!detached) shim.end(); });
    client.resume(); // flowing, as pipe() makes it: a connection whose body was read is left paused
  } else if (stdin) client.pipe(shim);
  else client.resume();
  shim.once('close', () => { if (endClient && !detached) client.end(); end(); });
  client.once('close', () => { if (!detached) shim.destroy(); end(); });
  client.on('error', () => shim.destroy());
  shim.on('error', () => client.destroy());
}


/** `direct`: the pid of a client that asked for its output on its own stdout and stderr (see clientOutput). */
export interface AttachStreams { stdin: boolean; stdout: boolean; stderr: boolean; detachKeys?: Buffer; direct?: number }
interface Attacher extends AttachStreams { socket: Socket; ended: () => void }

/** Clients attached to containers' stdio: joined to the shim now, or queued until the container starts. */
export class Attachers {
  private readonly waiting = new Map<string, Attacher[]>();

  constructor(private readonly shimDir: (id: string) => string) {}

  /** Joins a client to the container's stdio: now if it runs, else when it starts; resolves when the client is done. */
  attach(r: ContainerRecord, socket: Socket, streams: AttachStreams): Promise<void> {
    return new Promise((res) => {
      const a: Attacher = { socket, ...streams, ended: res };
      if (r.State.Running) { void this.connect(r, a); return; }
      const l = this.waiting.get(r.Id) ?? [];
      l.push(a);
      this.waiting.set(r.Id, l);
      socket.once('close', () => { const l2 = this.waiting.get(r.Id); if (l2) this.waiting.set(r.Id, l2.filter((x) => x !== a)); res(); });
    });
  }

  /** The container started: the queued clients are joined to it. */
  async connectWaiting(r: ContainerRecord): Promise<void> {
    const l = this.waiting.get(r.Id) ?? [];
    this.waiting.delete(r.Id);
    await Promise.all(l.map((a) => this.connect(r, a)));
  }

  /** The container ended or did not start: the queued clients are let go. */
  end(id: string): void {
    for (const a of this.waiting.get(id) ?? []) { a.socket.end(); a.ended(); }
    this.waiting.delete(id);
  }

  private async connect(r: ContainerRecord, a: Attacher): Promise<void> {
    let s: Socket;
    try {
      // the client's output is taken now, not when it came: a queued attacher holds nothing of its process
      s = await withClientOutput(a.socket, a.direct, a.stdin, !!r.Config.Tty,
        (handOver) => request(this.shimDir(r.Id), `attach ${a.stdin && r.Config.OpenStdin ? 1 : 0} ${a.stdout ? 1 : 0} ${a.stderr ? 1 : 0}`, handOver));
      if ((await replyLine(s)) !== 'ok') throw new Error('refused');
    } catch {
      a.socket.end();
      a.ended();
      return;
    }
    s.resume();
    pipeAttach(a.socket, s, a.stdin && !!r.Config.OpenStdin, () => a.ended(), true, a.detachKeys);
  }
}
