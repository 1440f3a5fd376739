// The container verbs of the berth CLI, with docker's names and flags. Each
// is a client of berthd (src/cli/client.ts), which the first use starts.
import { Command, Option } from 'commander';
import { createWriteStream, readFileSync, renameSync, writeSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import { isTransient, type Response } from './http1.js';
import type { Socket } from 'node:net';
import { InvalidInput } from '../util/check.js';
import { ageOf } from '../util/duration.js';
import { DaemonError, jsonLines, type ApiClient } from './client.js';
import { binaryUnits, formatGo, formatList, rfc3339NanoFixed, table, units, unixTime } from './format.js';
import { containerPath, copyIn, copyOut } from './copy.js';
import { errorLine } from './program.js';

const collect = (v: string, p: string[] = []) => [...p, v];

/** docker's RAMInBytes: 64m, 1g, 512k, 1024b, or plain bytes. */
export function bytesOf(field: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new InvalidInput(field, `invalid size: '${v}'`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as 'k'];
  return Math.round(Number(m[1]) * unit);
}

function durationNs(field: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(v);
  if (!m) throw new InvalidInput(field, `invalid duration: '${v}' (e.g. 30s, 1m, 500ms)`);
  return Math.round(Number(m[1]) * { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as 's']);
}

function parseEnvFile(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => (l.includes('=') ? l : `${l}=${process.env[l] ?? ''}`));
}

function keyValues(list: string[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((kv) => { const i = kv.indexOf('='); return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)]; }));
}

interface RunOpts {
  sigProxy?: boolean; detach?: boolean; interactive?: boolean; tty?: boolean; rm?: boolean; name?: string; env?: string[]; envFile?: string[]; workdir?: string; user?: string;
  hostname?: string; entrypoint?: string; label?: string[]; memory?: string; memorySwap?: string; cpus?: string; cpuShares?: string; cpusetCpus?: string;
  pidsLimit?: string; ulimit?: string[]; capAdd?: string[]; capDrop?: string[]; privileged?: boolean; readOnly?: boolean; securityOpt?: string[];
  device?: string[]; sysctl?: string[]; shmSize?: string; tmpfs?: string[]; stopSignal?: string; stopTimeout?: string; restart?: string; init?: boolean;
  healthCmd?: string; healthInterval?: string; healthTimeout?: string; healthRetries?: string; healthStartPeriod?: string; noHealthcheck?: boolean;
  volume?: string[]; mount?: string[]; volumesFrom?: string[]; network?: string; net?: string; logDriver?: string; logOpt?: string[]; attach?: string[];
  addHost?: string[]; link?: string[]; dns?: string[]; dnsSearch?: string[]; dnsOption?: string[]; groupAdd?: string[]; oomKillDisable?: boolean;
  pid?: string; ipc?: string; uts?: string; cgroupns?: string;
}

/** The flags `run` and `update` share: resources and the restart policy. */
function addResourceOptions(c: Command): Command {
  return c
    .option('-m, --memory <bytes>', 'memory limit')
    .option('--memory-swap <bytes>', 'memory plus swap limit (-1: unlimited)')
    .option('--cpus <n>', 'number of CPUs')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpuset-cpus <list>', 'CPUs to run on (0-3, 0,1)')
    .option('--pids-limit <n>', 'process limit (-1: unlimited)')
    .option('--restart <policy>', 'no, always, unless-stopped, on-failure[:N]');
}

type ResourceOpts = Pick<RunOpts, 'memory' | 'memorySwap' | 'cpus' | 'cpuShares' | 'cpusetCpus' | 'pidsLimit' | 'restart'>;

/** Those flags as HostConfig fields, only the ones given. */
function resourceFields(o: ResourceOpts): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (o.memory) f.Memory = bytesOf('--memory', o.memory);
  if (o.memorySwap) f.MemorySwap = o.memorySwap === '-1' ? -1 : bytesOf('--memory-swap', o.memorySwap);
  if (o.cpus) {
    const cpus = Number(o.cpus);
    if (!(cpus > 0)) throw new InvalidInput('--cpus', `invalid value "${o.cpus}"`);
    f.NanoCpus = Math.round(cpus * 1e9);
  }
  if (o.cpuShares) f.CpuShares = Number(o.cpuShares);
  if (o.cpusetCpus) f.CpusetCpus = o.cpusetCpus;
  if (o.pidsLimit) f.PidsLimit = Number(o.pidsLimit);
  if (o.restart) {
    const [name, count] = o.restart.split(':') as [string, string?];
    f.RestartPolicy = { Name: name, MaximumRetryCount: count ? Number(count) : 0 };
  }
  return f;
}

function addRunOptions(c: Command): Command {
  return addResourceOptions(c)
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('--name <name>', 'assign a name')
    .option('-e, --env <K=V>', 'set an environment variable', collect)
    .option('--env-file <file>', 'read environment variables from a file', collect)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, and group')
    .option('-h, --hostname <name>', 'container host name')
    .option('--entrypoint <cmd>', 'overwrite the image\'s ENTRYPOINT')
    .option('-l, --label <K=V>', 'set a label', collect)
    .option('--ulimit <name=soft[:hard]>', 'ulimit', collect)
    .option('--cap-add <cap>', 'add a capability', collect)
    .option('--cap-drop <cap>', 'drop a capability', collect)
    .option('--privileged', 'all capabilities, all devices, no seccomp or masked paths')
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--security-opt <opt>', 'seccomp=PROFILE|unconfined, no-new-privileges', collect)
    .option('--device <host[:container[:perms]]>', 'add a host device', collect)
    .option('--sysctl <K=V>', 'namespaced kernel parameter', collect)
    .option('--add-host <name:ip>', 'a line for /etc/hosts', collect)
    .option('--link <name[:alias]>', 'a legacy link to another container (checked; it adds nothing without a bridge network)', collect)
    .option('--dns <ip>', 'a nameserver for /etc/resolv.conf', collect).option('--dns-search <domain>', 'a search domain', collect).option('--dns-option <opt>', 'a resolver option', collect)
    .option('--group-add <group>', 'another group for the process', collect)
    .option('--oom-kill-disable', 'the OOM killer spares this container')
    .option('--pid <mode>', '"host", or "container:NAME" to share its processes').option('--ipc <mode>', '"host", "private" or "container:NAME"').option('--uts <mode>', '"host": the host\'s hostname')
    .option('--cgroupns <mode>', '"host" or "private" (default)')
    .option('--shm-size <bytes>', 'size of /dev/shm')
    .option('--tmpfs <dir[:opts]>', 'mount a tmpfs', collect)
    .option('--stop-signal <sig>', 'signal to stop the container')
    .option('--stop-timeout <s>', 'seconds to wait before killing')
    .option('--init', 'run berth-init as PID 1 (reaps zombies, forwards signals)')
    .option('--health-cmd <cmd>', 'command to check health')
    .option('--health-interval <d>', 'time between checks (e.g. 30s)')
    .option('--health-timeout <d>', 'maximum time for a check')
    .option('--health-retries <n>', 'failures before unhealthy')
    .option('--health-start-period <d>', 'grace period before failures count')
    .option('--no-healthcheck', 'disable the image\'s HEALTHCHECK')
    .option('-v, --volume <src:dst[:opts]>', 'bind mount or named volume', collect)
    .option('--mount <spec>', 'type=bind|volume|tmpfs,source=...,target=...[,readonly]', collect)
    .option('--volumes-from <container[:ro]>', 'mount the volumes of another container', collect)
    .option('--network <mode>', 'none (own namespace, loopback) or host', 'none')
    .addOption(new Option('--net <mode>').hideHelp())
    .option('--log-driver <driver>', 'json-file, local or none')
    .option('--log-opt <K=V>', 'max-size, max-file', collect);
}

function parseMount(spec: string) {
  const kv = keyValues(spec.split(','));
  const type = kv.type ?? 'volume';
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw new InvalidInput('--mount', `unknown type "${type}"`);
  const target = kv.target ?? kv.destination ?? kv.dst;
  if (!target) throw new InvalidInput('--mount', `target is required in "${spec}"`);
  const ro = 'readonly' in kv || 'ro' in kv ? (kv.readonly ?? kv.ro) !== 'false' : false;
  return {
    Type: type, Source: kv.source ?? kv.src, Target: target, ReadOnly: ro,
    ...(kv['bind-propagation'] ? { BindOptions: { Propagation: kv['bind-propagation'] } } : {}),
    ...(type === 'volume' && 'volume-nocopy' in kv ? { VolumeOptions: { NoCopy: true } } : {}),
    ...(type === 'tmpfs' ? { TmpfsOptions: { SizeBytes: kv['tmpfs-size'] ? bytesOf('--mount tmpfs-size', kv['tmpfs-size']) : undefined, Mode: kv['tmpfs-mode'] ? parseInt(kv['tmpfs-mode'], 8) : undefined } } : {}),
  };
}

/** The create body docker's CLI would send for these flags. */
export function createBody(image: string, cmd: string[], o: RunOpts): Record<string, unknown> {
  if (o.rm && o.restart && o.restart !== 'no') throw new InvalidInput('--restart', 'conflicting options: cannot specify both --restart and --rm');
  const env = [...(o.envFile ?? []).flatMap(parseEnvFile), ...(o.env ?? []).map((e) => (e.includes('=') ? e : `${e}=${process.env[e] ?? ''}`))];
  const ulimits = (o.ulimit ?? []).map((u) => {
    const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(u);
    if (!m) throw new InvalidInput('--ulimit', `invalid ulimit "${u}" (name=soft[:hard])`);
    return { Name: m[1], Soft: Number(m[2]), Hard: Number(m[3] ?? m[2]) };
  });
  const devices = (o.device ?? []).map((d) => { const [h, c, p] = d.split(':'); return { PathOnHost: h, PathInContainer: c || h, CgroupPermissions: p || 'rwm' }; });
  const tmpfs = Object.fromEntries((o.tmpfs ?? []).map((t) => { const i = t.indexOf(':'); return i < 0 ? [t, ''] : [t.slice(0, i), t.slice(i + 1)]; }));
  let health: Record<string, unknown> | undefined;
  if (o.noHealthcheck === false) health = { Test: ['NONE'] };
  else if (o.healthCmd || o.healthInterval || o.healthTimeout || o.healthRetries || o.healthStartPeriod) {
    health = {
      ...(o.healthCmd ? { Test: ['CMD-SHELL', o.healthCmd] } : {}),
      ...(o.healthInterval ? { Interval: durationNs('--health-interval', o.healthInterval) } : {}),
      ...(o.healthTimeout ? { Timeout: durationNs('--health-timeout', o.healthTimeout) } : {}),
      ...(o.healthRetries ? { Retries: Number(o.healthRetries) } : {}),
      ...(o.healthStartPeriod ? { StartPeriod: durationNs('--health-start-period', o.healthStartPeriod) } : {}),
    };
  }
  const logDriver = o.logDriver;
  return {
    Image: image, Cmd: cmd.length ? cmd : undefined, Entrypoint: o.entrypoint !== undefined ? [o.entrypoint].filter((x, i) => x !== '' || i > 0) : undefined,
    Env: env, WorkingDir: o.workdir, User: o.user, Hostname: o.hostname, Labels: keyValues(o.label),
    Tty: !!o.tty, OpenStdin: !!o.interactive, StdinOnce: !!o.interactive && !o.detach,
    AttachStdin: !!o.interactive && !o.detach, AttachStdout: !o.detach, AttachStderr: !o.detach,
    StopSignal: o.stopSignal, StopTimeout: o.stopTimeout !== undefined ? Number(o.stopTimeout) : undefined, Healthcheck: health,
    HostConfig: {
      AutoRemove: !!o.rm, Binds: o.volume ?? [], Mounts: (o.mount ?? []).map(parseMount), VolumesFrom: o.volumesFrom ?? [], Tmpfs: tmpfs,
      NetworkMode: o.net ?? o.network ?? 'none',
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, Memory: 0, MemorySwap: 0, NanoCpus: 0, CpuShares: 0, CpusetCpus: '', PidsLimit: null,
      ...resourceFields(o),
      Ulimits: ulimits, CapAdd: o.capAdd ?? [], CapDrop: o.capDrop ?? [],
      Privileged: !!o.privileged, ReadonlyRootfs: !!o.readOnly, SecurityOpt: (o.securityOpt ?? []).map(securityOpt), Devices: devices, Sysctls: keyValues(o.sysctl),
      ShmSize: o.shmSize ? bytesOf('--shm-size', o.shmSize) : 0, Init: o.init ?? null,
      ExtraHosts: o.addHost ?? [], Links: o.link ?? [], Dns: o.dns ?? [], DnsSearch: o.dnsSearch ?? [], DnsOptions: o.dnsOption ?? [], GroupAdd: o.groupAdd ?? [],
      OomKillDisable: !!o.oomKillDisable, PidMode: o.pid ?? '', IpcMode: o.ipc ?? '', UTSMode: o.uts ?? '', CgroupnsMode: o.cgroupns ?? '',
      LogConfig: { Type: logDriver ?? '', Config: keyValues(o.logOpt) },
    },
  };
}

/** Where output goes: stdout (1) or stderr (2). */
type Sink = (fd: 1 | 2, d: Buffer) => void;

const streamOf = (fd: 1 | 2) => (fd === 2 ? process.stderr : process.stdout);

/** Through process.stdout/stderr; a full pipe pauses `from` until it drains. */
const queued = (from: Socket): Sink => (fd, d) => {
  const to = streamOf(fd);
  if (to.write(d) || from.isPaused()) return;
  from.pause();
  to.once('drain', () => from.resume());
};

/**
 * Written before it returns, for chunks that are only valid until then
 * (hijack's `transient`). What a full non-blocking pipe does not take is
 * copied and queued, and `from` waits for the drain.
 */
const immediate = (from: Socket): Sink => {
  const later = queued(from);
  return (fd, d) => {
    // bytes still queued go first: nothing may overtake them
    if (streamOf(fd).writableLength) { later(fd, Buffer.from(d)); return; }
    for (let o = 0; o < d.length;) {
      try { o += writeSync(fd, d, o, d.length - o); } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') { later(fd, Buffer.from(d.subarray(o))); return; }
        if (code === 'EPIPE') process.exit(141); // as the queued path ends (program.ts)
        throw e;
      }
    }
  };
};

/**
 * Splits docker's multiplexed stream into stdout and stderr. A frame's
 * payload is passed on as it arrives: frames may be a MiB, chunks 64 KiB.
 * Resolves with the text of systemerr frames (stream 3): what went wrong
 * with the stream itself.
 */
function demux(sock: Socket, sink: Sink): Promise<string> {
  return new Promise((res) => {
    let header: Buffer = Buffer.alloc(0);
    let left = 0; // payload bytes of the current frame still to come
    let to: 1 | 2 | 3 = 1;
    let systemErr = '';
    sock.on('data', (d: Buffer) => {
      while (d.length) {
        if (left) {
          const part = d.length > left ? d.subarray(0, left) : d;
          if (to === 3) systemErr += part.toString(); else sink(to, part);
          left -= part.length;
          d = d.subarray(part.length);
          continue;
        }
        const take = Math.min(8 - header.length, d.length);
        header = Buffer.concat([header, d.subarray(0, take)]);
        d = d.subarray(take);
        if (header.length < 8) return;
        to = header[0] === 2 ? 2 : header[0] === 3 ? 3 : 1;
        left = header.readUInt32BE(4);
        header = Buffer.alloc(0);
      }
    });
    sock.on('end', () => res(systemErr));
    sock.on('close', () => res(systemErr));
  });
}

/**
 * Connects the terminal (or pipes) to a hijacked stream until its output
 * ends. Its callers hijack it `transient` when they do not forward stdin:
 * then output is written out at once; with stdin, writing must never block
 * reading it.
 */
async function pumpStreams(api: ApiClient, sock: Socket, tty: boolean, stdin: boolean, resizePath?: string): Promise<void> {
  const sink = isTransient(sock) ? immediate(sock) : queued(sock);
  const rawTty = tty && stdin && process.stdin.isTTY;
  if (rawTty) process.stdin.setRawMode(true);
  const resize = () => { if (resizePath && process.stdout.isTTY) void api.call('POST', `${resizePath}?h=${process.stdout.rows}&w=${process.stdout.columns}`).catch(() => {}); };
  if (tty) { resize(); process.stdout.on('resize', resize); }
  if (stdin) {
    process.stdin.on('data', (d) => sock.write(d));
    process.stdin.on('end', () => sock.end());
  }
  try {
    if (tty) await new Promise<void>((res) => { sock.on('data', (d: Buffer) => sink(1, d)); sock.on('end', res); sock.on('close', res); });
    else {
      const systemErr = await demux(sock, sink);
      // the shim's write to our stdout found no reader: end as our own write would have
      if (systemErr === 'EPIPE') process.exit(141);
      if (systemErr) throw new Error(`error from daemon in stream: ${systemErr}`);
    }
  } finally {
    // process.stdin is made on first use (a tty or pipe stream, ~2 ms): not for a command that never reads it
    if (rawTty) process.stdin.setRawMode(false);
    if (stdin) process.stdin.pause();
    if (tty) process.stdout.off('resize', resize);
  }
}

async function createContainer(api: ApiClient, body: Record<string, unknown>, name?: string): Promise<string> {
  const q = name ? `?name=${encodeURIComponent(name)}` : '';
  // docker prints what the daemon dropped (a setting this host cannot carry out) before it goes on
  const created = async () => {
    const r = await api.call<{ Id: string; Warnings?: string[] | null }>('POST', `/containers/create${q}`, body);
    for (const w of r.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
    return r.Id;
  };
  try {
    return await created();
  } catch (e) {
    if (!(e instanceof DaemonError) || e.status !== 404 || !/image/i.test(e.message)) throw e;
    // not here: pull it, as docker does
    process.stderr.write(`Unable to find image '${body.Image as string}' locally\n`);
    const res = await api.raw('POST', `/images/create?fromImage=${encodeURIComponent(body.Image as string)}`);
    let text = '';
    for await (const c of res) text += (c as Buffer).toString();
    const err = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { error?: string }).find((l) => l.error);
    if (err || res.statusCode >= 400) throw new Error(err?.error ?? text);
    return await created();
  }
}

/** docker's --sig-proxy[=false] (true by default). */
const SIG_PROXY = ['--sig-proxy [bool]', 'pass the signals berth receives on to the container (not with -t)', (v: string) => v !== 'false' && v !== '0', true] as const;

/** What docker's CLI passes on (all it can catch, less its own pipes' and children's). */
const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH'];

/**
 * While attached without a terminal, the signals the CLI receives go to the
 * container (docker's sig-proxy): Ctrl-C stops the container's process, not
 * only the CLI. A terminal sends its own keys. Returns the undo.
 */
function proxySignals(api: ApiClient, id: string, on: boolean | undefined, tty: boolean): () => void {
  if (on === false || tty) return () => {};
  const pass = (sig: NodeJS.Signals) => { void api.call('POST', `/containers/${id}/kill?signal=${sig}`).catch(() => {}); };
  for (const s of PROXIED) process.on(s, pass);
  return () => { for (const s of PROXIED) process.off(s, pass); };
}

/** What docker's generic inspect says of a name that is neither a container nor an image. */
class NoSuchObject extends Error {}

/**
 * docker's inspect of several objects: those found (a JSON array, or a
 * --format line each), then one line for each that is not, and exit 1.
 */
async function inspectEach(names: string[], format: string | undefined, get: (name: string) => Promise<unknown>): Promise<void> {
  const found: unknown[] = [], missing: string[] = [];
  for (const n of names) {
    try { found.push(await get(n)); } catch (e) {
      if (e instanceof NoSuchObject) missing.push(`Error: ${e.message}`);
      else if (e instanceof DaemonError && e.status === 404) missing.push(`Error response from daemon: ${e.message}`);
      else throw e;
    }
  }
  process.stdout.write(format ? found.map((x) => `${formatGo(format, x)}\n`).join('') : `${JSON.stringify(found, null, 4)}\n`);
  if (missing.length) { process.stderr.write(missing.map((m) => `${m}\n`).join('')); process.exitCode = 1; }
}

/** A prune's list as docker prints it: only when something went. */
const deletedList = (what: string, names: string[]) => (names.length ? `Deleted ${what}:\n${names.map((x) => `${x}\n`).join('')}\n` : '');

/** --filter K=V flags as the API's filters query value. */
function filtersParam(list: string[] | undefined): string {
  const filters: Record<string, string[]> = {};
  for (const f of list ?? []) { const i = f.indexOf('='); (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1)); }
  return encodeURIComponent(JSON.stringify(filters));
}

/** As docker's CLI does, a seccomp profile named by its path is sent as its content. */
function securityOpt(opt: string): string {
  const m = /^seccomp[=:](.+)$/.exec(opt);
  if (!m || m[1] === 'unconfined' || m[1]!.trimStart().startsWith('{')) return opt;
  try { return `seccomp=${readFileSync(m[1]!, 'utf8')}`; } catch (e) {
    throw new InvalidInput('--security-opt', `cannot read the seccomp profile ${m[1]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function registerContainerCommands(program: Command, api: () => ApiClient): void {
  const run = async (image: string, cmd: string[], o: RunOpts, startOnly = false) => {
    const a = api();
    const body = createBody(image, cmd, o);
    const id = await createContainer(a, body, o.name);
    if (startOnly) { process.stdout.write(`${id}\n`); return; }
    if (o.detach) {
      await a.call('POST', `/containers/${id}/start`);
      process.stdout.write(`${id}\n`);
      return;
    }
    const [sock, waitRes] = await Promise.all([
      a.hijack('POST', `/containers/${id}/attach?stream=1&stdin=${o.interactive ? 1 : 0}&stdout=1&stderr=1`, undefined, !o.interactive),
      a.raw('POST', `/containers/${id}/wait?condition=${o.rm ? 'removed' : 'next-exit'}`),
    ]);
    const waited = (async () => { let t = ''; for await (const c of waitRes) t += (c as Buffer).toString(); return JSON.parse(t) as { StatusCode: number; Error?: { Message: string } | null }; })();
    // before the start: the process's output may reach a reader (and its signals come back) before the start is answered
    const unproxy = proxySignals(a, id, o.sigProxy, !!o.tty);
    try { await a.call('POST', `/containers/${id}/start`); } catch (e) {
      unproxy();
      sock.destroy();
      process.stderr.write(errorLine(e));
      process.exitCode = /not found|no such file/i.test((e as Error).message) ? 127 : /permission denied/i.test((e as Error).message) ? 126 : 125;
      if (o.rm) await a.call('DELETE', `/containers/${id}?force=1&v=1`).catch(() => {});
      return;
    }
    try {
      await pumpStreams(a, sock, !!o.tty, !!o.interactive, `/containers/${id}/resize`);
      process.exitCode = (await waited).StatusCode;
    } finally {
      unproxy();
    }
  };

  addRunOptions(program.command('run').description('create and start a container from an image')
    .argument('<image>').argument('[command...]')
    .option('-d, --detach', 'run in the background and print the container ID')
    .option(...SIG_PROXY)
    .option('--rm', 'remove the container when it exits'))
    .passThroughOptions()
    .action((image: string, cmd: string[], o: RunOpts) => run(image, cmd, o));

  addRunOptions(program.command('create').description('create a container without starting it')
    .argument('<image>').argument('[command...]')
    .option('--rm', 'remove the container when it exits'))
    .passThroughOptions()
    .action((image: string, cmd: string[], o: RunOpts) => run(image, cmd, { ...o, detach: true }, true));

  const container = program.command('container').description('manage containers');

  const toStdoutOrFile = async (res: Response, file?: string) => {
    if (!file && process.stdout.isTTY) throw new InvalidInput('output', 'refusing to write a tar to a terminal: use -o FILE or a pipe');
    if (!file) {
      // a reader that stops early (| head) is not an error
      try { await pipeline(res, process.stdout); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e; }
      return;
    }
    const tmp = `${file}.${process.pid}.tmp`; // no half-written archive under the real name
    await pipeline(res, createWriteStream(tmp));
    renameSync(tmp, file);
  };
  /** A verb over several containers, as docker's: each one named as it is done, each failure told; `summary`: docker's last line for some verbs. */
  const each = (fn: (id: string, o: Record<string, string | boolean>) => Promise<unknown>, summary?: string) => async (ids: string[], o: Record<string, string | boolean>) => {
    const failed: string[] = [];
    for (const id of ids) {
      try { await fn(id, o); process.stdout.write(`${id}\n`); } catch (e) {
        process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
        failed.push(id);
        process.exitCode = 1;
      }
    }
    if (failed.length && summary) process.stderr.write(`Error: ${summary}: ${failed.join(', ')}\n`);
  };
  for (const parent of [program, container]) {
    parent.command('start').argument('<containers...>').description('start stopped containers')
      .option('-a, --attach', 'attach stdout/stderr').option('-i, --interactive', 'attach stdin').option(...SIG_PROXY)
      .action(async (ids: string[], o: { attach?: boolean; interactive?: boolean; sigProxy?: boolean }) => {
        if (!o.attach && !o.interactive) return each((id) => api().call('POST', `/containers/${id}/start`), 'failed to start containers')(ids, {});
        const a = api();
        const c = await a.call<{ Id: string; Config: { Tty: boolean } }>('GET', `/containers/${ids[0]}/json`);
        const sock = await a.hijack('POST', `/containers/${c.Id}/attach?stream=1&stdin=${o.interactive ? 1 : 0}&stdout=1&stderr=1`, undefined, !o.interactive);
        const waitRes = a.call<{ StatusCode: number }>('POST', `/containers/${c.Id}/wait?condition=next-exit`);
        const unproxy = proxySignals(a, c.Id, o.sigProxy, c.Config.Tty);
        try {
          await a.call('POST', `/containers/${c.Id}/start`);
          await pumpStreams(a, sock, c.Config.Tty, !!o.interactive, `/containers/${c.Id}/resize`);
          process.exitCode = (await waitRes).StatusCode;
        } finally {
          unproxy();
        }
      });
    parent.command('stop').argument('<containers...>').description('stop running containers')
      .option('-t, --time <s>', 'seconds to wait before killing').option('-s, --signal <sig>', 'signal to send')
      .action(each((id, o) => api().call('POST', `/containers/${id}/stop?${o.time !== undefined ? `t=${o.time}&` : ''}${o.signal ? `signal=${o.signal}` : ''}`)));
    parent.command('restart').argument('<containers...>').description('restart containers')
      .option('-t, --time <s>', 'seconds to wait before killing')
      .action(each((id, o) => api().call('POST', `/containers/${id}/restart${o.time !== undefined ? `?t=${o.time}` : ''}`)));
    parent.command('kill').argument('<containers...>').description('send a signal (default SIGKILL)')
      .option('-s, --signal <sig>', 'signal', 'KILL')
      .action(each((id, o) => api().call('POST', `/containers/${id}/kill?signal=${o.signal}`)));
    parent.command('rm').argument('<containers...>').description('remove containers')
      .option('-f, --force', 'kill a running container first').option('-v, --volumes', 'remove its anonymous volumes')
      .action(each((id, o) => api().call('DELETE', `/containers/${id}?force=${o.force ? 1 : 0}&v=${o.volumes ? 1 : 0}`)));
    parent.command('pause').argument('<containers...>').description('freeze all processes')
      .action(each((id) => api().call('POST', `/containers/${id}/pause`)));
    parent.command('unpause').argument('<containers...>').description('thaw all processes')
      .action(each((id) => api().call('POST', `/containers/${id}/unpause`)));
    parent.command('wait').argument('<containers...>').description('wait for containers to stop; print their exit codes')
      .action(async (ids: string[]) => { for (const id of ids) process.stdout.write(`${(await api().call<{ StatusCode: number }>('POST', `/containers/${id}/wait`)).StatusCode}\n`); });
    addResourceOptions(parent.command('update').argument('<containers...>').description('change resource limits and the restart policy'))
      .action(each(async (id, o) => {
        const r = await api().call<{ Warnings?: string[] | null }>('POST', `/containers/${id}/update`, resourceFields(o as ResourceOpts));
        for (const w of r?.Warnings ?? []) process.stderr.write(`${w}\n`);
      }));
    parent.command('rename').argument('<container>').argument('<name>').description('rename a container')
      .action(async (id: string, name: string) => {
        try { await api().call('POST', `/containers/${id}/rename?name=${encodeURIComponent(name)}`); } catch (e) {
          if (!(e instanceof DaemonError)) throw e;
          process.stderr.write(`Error response from daemon: ${e.message}\nError: failed to rename container named ${id}\n`);
          process.exitCode = 1;
        }
      });
    parent.command('logs').argument('<container>').description('fetch a container\'s logs')
      .option('-f, --follow', 'follow the output').option('-n, --tail <n>', 'lines from the end', 'all')
      .option('--since <t>', 'since a time (unix seconds, RFC 3339, or a duration before now: 10m)').option('--until <t>', 'until a time (as --since)').option('-t, --timestamps', 'show timestamps')
      .option('--details', 'the log\'s extra attributes before each line (berth keeps none: a space, as docker prints)')
      .action(async (id: string, o: { follow?: boolean; tail: string; since?: string; until?: string; timestamps?: boolean; details?: boolean }) => {
        const a = api();
        const c = await a.call<{ Config: { Tty: boolean } }>('GET', `/containers/${id}/json`);
        const res = await a.stream('GET', `/containers/${id}/logs?stdout=1&stderr=1&follow=${o.follow ? 1 : 0}&tail=${o.tail}&timestamps=${o.timestamps ? 1 : 0}${o.details ? '&details=1' : ''}${o.since ? `&since=${unixTime(o.since, '--since')}` : ''}${o.until ? `&until=${unixTime(o.until, '--until')}` : ''}`);
        if (c.Config.Tty) { for await (const d of res) if (!process.stdout.write(d as Buffer)) await once(process.stdout, 'drain'); return; }
        await demux(res as unknown as Socket, queued(res as unknown as Socket));
      });
    parent.command('attach').argument('<container>').description('attach to a running container\'s stdio')
      .option('--no-stdin', 'do not attach stdin').option(...SIG_PROXY)
      .action(async (id: string, o: { stdin: boolean; sigProxy?: boolean }) => {
        const a = api();
        const c = await a.call<{ Id: string; Config: { Tty: boolean; OpenStdin: boolean } }>('GET', `/containers/${id}/json`);
        const stdin = o.stdin && c.Config.OpenStdin;
        const sock = await a.hijack('POST', `/containers/${c.Id}/attach?stream=1&stdin=${stdin ? 1 : 0}&stdout=1&stderr=1`, undefined, !stdin);
        const unproxy = proxySignals(a, c.Id, o.sigProxy, c.Config.Tty);
        try { await pumpStreams(a, sock, c.Config.Tty, stdin, `/containers/${c.Id}/resize`); } finally { unproxy(); }
        const st = await a.call<{ State: { Running: boolean; ExitCode: number } }>('GET', `/containers/${c.Id}/json`);
        if (!st.State.Running) process.exitCode = st.State.ExitCode;
      });
    parent.command('exec').argument('<container>').argument('<command...>').description('run a command in a running container')
      .option('-i, --interactive', 'keep STDIN open').option('-t, --tty', 'allocate a pseudo-TTY').option('-d, --detach', 'run in the background')
      .option('-e, --env <K=V>', 'environment variable', collect).option('-u, --user <user>', 'user').option('-w, --workdir <dir>', 'working directory')
      .option('--privileged', 'extended privileges')
      .passThroughOptions()
      .action(async (id: string, cmd: string[], o: { interactive?: boolean; tty?: boolean; detach?: boolean; env?: string[]; user?: string; workdir?: string; privileged?: boolean }) => {
        const a = api();
        const x = await a.call<{ Id: string }>('POST', `/containers/${id}/exec`, {
          Cmd: cmd, Tty: !!o.tty, AttachStdin: !!o.interactive && !o.detach, AttachStdout: !o.detach, AttachStderr: !o.detach,
          Env: o.env ?? [], User: o.user ?? '', WorkingDir: o.workdir ?? '', Privileged: !!o.privileged,
        });
        if (o.detach) { await a.call('POST', `/exec/${x.Id}/start`, { Detach: true, Tty: !!o.tty }); return; }
        const sock = await a.hijack('POST', `/exec/${x.Id}/start`, { Detach: false, Tty: !!o.tty }, !o.interactive);
        await pumpStreams(a, sock, !!o.tty, !!o.interactive, `/exec/${x.Id}/resize`);
        process.exitCode = (await a.call<{ ExitCode: number | null }>('GET', `/exec/${x.Id}/json`)).ExitCode ?? 0;
      });
    parent.command('top').argument('<container>').argument('[ps-options...]').description('processes of a container')
      .action(async (id: string, args: string[]) => {
        const t = await api().call<{ Titles: string[]; Processes: string[][] }>('GET', `/containers/${id}/top${args.length ? `?ps_args=${encodeURIComponent(args.join(' '))}` : ''}`);
        process.stdout.write(table([t.Titles, ...t.Processes], 20)); // docker's top pads to twenty
      });
    parent.command('stats').argument('[containers...]').description('resource usage (all running containers without arguments)')
      .option('--no-stream', 'one sample, then exit').option('-a, --all', 'stopped containers too').option('--format <tpl>', 'Go-template-like format ({{.Name}}, {{.CPUPerc}}, {{.MemUsage}}, ...)')
      .action(async (ids: string[], o: { stream: boolean; all?: boolean; format?: string }) => {
        const a = api();
        if (!ids.length) ids = (await a.call<{ Id: string }[]>('GET', `/containers/json${o.all ? '?all=1' : ''}`)).map((c) => c.Id);
        const header = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];
        if (!o.stream) {
          // the daemon takes two samples a second apart, so CPU % is of that second
          const all = await Promise.all(ids.map((id) => a.call<Sample>('GET', `/containers/${id}/stats?stream=false`)));
          if (o.format) {
            // docker's fields for stats templates
            const fields = all.map(statsRow).map(([ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs], i) => ({ Container: ids[i], ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs }));
            process.stdout.write(formatList(o.format, fields, { ID: 'CONTAINER ID', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', Container: 'CONTAINER' }));
            return;
          }
          process.stdout.write(table([header, ...all.map(statsRow)]));
          return;
        }
        const latest = new Map<string, Sample>();
        const tty = process.stdout.isTTY;
        const print = () => process.stdout.write(`${tty ? '\x1b[2J\x1b[H' : ''}${table([header, ...ids.filter((id) => latest.has(id)).map((id) => statsRow(latest.get(id)!))])}`);
        const timer = setInterval(print, 1000);
        await Promise.all(ids.map(async (id) => {
          for await (const sample of jsonLines<Sample>(await a.raw('GET', `/containers/${id}/stats?stream=true`))) latest.set(id, sample);
        }));
        clearInterval(timer);
        print();
      });
    // `inspect` names a container or an image, as docker's; `container inspect` only containers
    const generic = parent === program;
    parent.command('inspect').argument(generic ? '<objects...>' : '<containers...>').description('low-level information').option('-f, --format <tpl>', 'Go-template-like format')
      .action((ids: string[], o: { format?: string }) => inspectEach(ids, o.format, async (id) => {
        try { return await api().call('GET', `/containers/${encodeURIComponent(id)}/json`); } catch (e) {
          if (!generic || !(e instanceof DaemonError) || e.status !== 404) throw e;
          try { return await api().call('GET', `/images/${encodeURIComponent(id)}/json`); } catch (e2) {
            throw e2 instanceof DaemonError && e2.status === 404 ? new NoSuchObject(`No such object: ${id}`) : e2;
          }
        }
      }));
    parent.command('port').argument('<container>').argument('[private-port]', 'PORT[/PROTO]').description('the container\'s published ports')
      .action(async (id: string, port: string | undefined) => {
        type Binding = { HostIp: string; HostPort: string };
        const c = await api().call<{ Name: string; NetworkSettings: { Ports: Record<string, Binding[] | null> } }>('GET', `/containers/${id}/json`);
        const ports = Object.entries(c.NetworkSettings.Ports ?? {}).filter((e): e is [string, Binding[]] => !!e[1]?.length);
        const show = (b: Binding) => `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp || '0.0.0.0'}:${b.HostPort}`;
        if (port === undefined) {
          process.stdout.write(ports.flatMap(([p, bs]) => bs.map((b) => `${p} -> ${show(b)}\n`)).join(''));
          return;
        }
        if (!/^\d+(\/(tcp|udp|sctp))?$/.test(port)) throw new Error(`invalid port "${port}": expected PORT or PORT/PROTO (tcp, udp, sctp)`);
        const key = port.includes('/') ? port : `${port}/tcp`;
        const found = ports.find(([p]) => p === key);
        if (!found) {
          process.stderr.write(`Error: No public port '${port}' published for ${c.Name.replace(/^\//, '')}\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(found[1].map((b) => `${show(b)}\n`).join(''));
      });
    parent.command('export').argument('<container>').description('the container\'s filesystem as a tar').option('-o, --output <file>', 'write to a file')
      .action(async (id: string, o: { output?: string }) => { await toStdoutOrFile(await api().stream('GET', `/containers/${id}/export`), o.output); });
    parent.command('diff').argument('<container>').description('files the container changed')
      .action(async (id: string) => {
        const ch = await api().call<{ Path: string; Kind: number }[]>('GET', `/containers/${id}/changes`);
        process.stdout.write(ch.map((c) => `${'CAD'[c.Kind]} ${c.Path}\n`).join(''));
      });
    parent.command('commit').argument('<container>').argument('[repository[:tag]]').description('a new image from the container\'s changes')
      .option('-c, --change <instr>', 'Dockerfile instruction', collect).option('-m, --message <text>', 'commit message').option('-a, --author <name>', 'author')
      .option('-p, --pause', 'pause during commit (default)', true).option('--no-pause', 'do not pause')
      .action(async (id: string, ref: string | undefined, o: { change?: string[]; message?: string; author?: string; pause: boolean }) => {
        const i = ref ? ref.lastIndexOf(':') : -1;
        const [repo, tag] = ref ? (i > ref.lastIndexOf('/') ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, '']) : ['', ''];
        const q = new URLSearchParams({ container: id, repo, tag, comment: o.message ?? '', author: o.author ?? '', pause: o.pause ? '1' : '0' });
        for (const c of o.change ?? []) q.append('changes', c);
        process.stdout.write(`${(await api().call<{ Id: string }>('POST', `/commit?${q}`, {})).Id}\n`);
      });
    parent.command('cp').argument('<src>').argument('<dest>')
      .description('copy files between a container and the host: CONTAINER:SRC DEST | SRC CONTAINER:DEST ("-" for a tar stream)')
      .option('-a, --archive', 'keep uid/gid (host side)').option('-L, --follow-link', 'follow a symbolic link in SRC')
      .action(async (src: string, dest: string, o: { archive?: boolean; followLink?: boolean }) => {
        const from = containerPath(src), to = containerPath(dest);
        if (from && to) throw new InvalidInput('cp', 'copying between two containers is not supported: copy through the host');
        if (!from && !to) throw new InvalidInput('cp', `one of the paths must be CONTAINER:PATH (got ${src} and ${dest})`);
        if (from && dest === '-') await toStdoutOrFile(await api().stream('GET', `/containers/${from.id}/archive?path=${encodeURIComponent(from.path)}`));
        else if (to && src === '-') await api().upload('PUT', `/containers/${to.id}/archive?path=${encodeURIComponent(to.path)}`, process.stdin);
        else if (from) await copyOut(api(), from.id, from.path, dest, o);
        else await copyIn(api(), src, to!.id, to!.path, o);
      });
  }

  const ps = async (opts: { all?: boolean; quiet?: boolean; last?: string; latest?: boolean; filter?: string[]; trunc?: boolean; format?: string }) => {
    const o = { ...opts, noTrunc: opts.trunc === false }; // commander's --no-trunc is trunc: false
    const limit = o.latest ? 1 : o.last ? Number(o.last) : 0;
    const list = await api().call<{ Id: string; Names: string[]; Image: string; Command: string; Created: number; Status: string; State: string; Labels: Record<string, string> }[]>('GET', `/containers/json?all=${o.all ? 1 : 0}${limit ? `&limit=${limit}` : ''}&filters=${filtersParam(o.filter)}`);
    if (o.quiet) { process.stdout.write(list.map((c) => `${o.noTrunc ? c.Id : c.Id.slice(0, 12)}\n`).join('')); return; }
    if (o.format) {
      const rows = list.map((c) => ({ ID: o.noTrunc ? c.Id : c.Id.slice(0, 12), Names: c.Names.map((n) => n.slice(1)).join(','), Image: c.Image, Command: `"${c.Command}"`, Status: c.Status, State: c.State, Labels: Object.entries(c.Labels).map(([k, v]) => `${k}=${v}`).join(','), CreatedAt: new Date(c.Created * 1000).toISOString() }));
      process.stdout.write(formatList(o.format, rows, { ID: 'CONTAINER ID', CreatedAt: 'CREATED AT' }));
      return;
    }
    const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
    for (const c of list) {
      const cmd = o.noTrunc ? c.Command : c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command;
      rows.push([o.noTrunc ? c.Id : c.Id.slice(0, 12), c.Image, `"${cmd}"`, `${ageOf(c.Created)} ago`, c.Status, '', c.Names.map((n) => n.slice(1)).join(',')]);
    }
    process.stdout.write(table(rows));
  };
  for (const cmd of [program.command('ps'), container.command('ls').alias('list')]) {
    cmd.description('list containers').option('-a, --all', 'show all, not only running').option('-q, --quiet', 'only IDs')
      .option('-n, --last <n>', 'the n last created').option('-l, --latest', 'the latest created').option('--filter <K=V>', 'filter', collect)
      .option('--no-trunc', 'do not truncate').option('--format <tpl>', 'Go-template-like format').action(ps);
  }
  container.command('prune').description('remove all stopped containers').option('-f, --force', 'do not ask')
    .action(async () => {
      const r = await api().call<{ ContainersDeleted: string[]; SpaceReclaimed: number }>('POST', '/containers/prune');
      process.stdout.write(`${deletedList('Containers', r.ContainersDeleted)}Total reclaimed space: ${units(r.SpaceReclaimed)}\n`);
    });

  const network = program.command('network').description('manage networks (berth has none and host; bridges come later)');
  network.command('ls').alias('list').option('-q, --quiet', 'only IDs').option('--no-trunc', 'full IDs').option('--format <tpl>', 'Go-template-like format')
    .action(async (o: { quiet?: boolean; trunc?: boolean; format?: string }) => {
      const nets = await api().call<{ Id: string; Name: string; Driver: string; Scope: string }[]>('GET', '/networks');
      const rows = nets.map((n) => ({ ID: o.trunc === false ? n.Id : n.Id.slice(0, 12), Name: n.Name, Driver: n.Driver, Scope: n.Scope })).sort((a, b) => a.Name.localeCompare(b.Name));
      if (o.quiet) { process.stdout.write(rows.map((r) => `${r.ID}\n`).join('')); return; }
      if (o.format) { process.stdout.write(formatList(o.format, rows, { ID: 'NETWORK ID' })); return; }
      process.stdout.write(table([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...rows.map((r) => [r.ID, r.Name, r.Driver, r.Scope])]));
    });
  network.command('inspect').argument('<networks...>').option('-f, --format <tpl>', 'format')
    .action((ids: string[], o: { format?: string }) => inspectEach(ids, o.format, (id) => api().call('GET', `/networks/${encodeURIComponent(id)}`)));
  network.command('create').argument('<name>').option('-d, --driver <d>', 'driver', 'bridge')
    .action(async (name: string, o: { driver: string }) => { await api().call('POST', '/networks/create', { Name: name, Driver: o.driver }); });
  for (const verb of ['connect', 'disconnect']) {
    network.command(verb).argument('<network>').argument('<container>')
      .action(async (net: string, ctr: string) => { await api().call('POST', `/networks/${encodeURIComponent(net)}/${verb}`, { Container: ctr }); });
  }
  network.command('rm').alias('remove').argument('<networks...>').description('remove networks')
    .action(each((id) => api().call('DELETE', `/networks/${encodeURIComponent(id)}`)));
  network.command('prune').option('-f, --force', 'do not ask (berth never asks)').description('remove unused networks')
    .action(async () => {
      const r = await api().call<{ NetworksDeleted: string[] }>('POST', '/networks/prune');
      if (r.NetworksDeleted.length) process.stdout.write(deletedList('Networks', r.NetworksDeleted).trimEnd() + '\n');
    });

  const volume = program.command('volume').description('manage volumes');
  volume.command('create').argument('[name]').option('-l, --label <K=V>', 'label', collect).option('-d, --driver <d>', 'driver', 'local')
    .action(async (name: string | undefined, o: { label?: string[]; driver: string }) => {
      const v = await api().call<{ Name: string }>('POST', '/volumes/create', { Name: name ?? '', Labels: keyValues(o.label), Driver: o.driver });
      process.stdout.write(`${v.Name}\n`);
    });
  volume.command('ls').alias('list').option('-q, --quiet', 'only names').option('--filter <K=V>', 'filter', collect)
    .action(async (o: { quiet?: boolean; filter?: string[] }) => {
      const r = await api().call<{ Volumes: { Name: string; Driver: string }[] }>('GET', `/volumes?filters=${filtersParam(o.filter)}`);
      if (o.quiet) { process.stdout.write(r.Volumes.map((v) => `${v.Name}\n`).join('')); return; }
      process.stdout.write(table([['DRIVER', 'VOLUME NAME'], ...r.Volumes.map((v) => [v.Driver, v.Name])]));
    });
  volume.command('inspect').argument('<names...>').option('-f, --format <tpl>', 'format')
    .action((names: string[], o: { format?: string }) => inspectEach(names, o.format, (n) => api().call('GET', `/volumes/${encodeURIComponent(n)}`)));
  volume.command('rm').alias('remove').argument('<names...>').option('-f, --force', 'force')
    .action(async (names: string[]) => {
      for (const n of names) {
        try { await api().call('DELETE', `/volumes/${encodeURIComponent(n)}`); process.stdout.write(`${n}\n`); } catch (e) {
          process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
          process.exitCode = 1;
        }
      }
    });
  volume.command('prune').option('-a, --all', 'named volumes too').option('-f, --force', 'do not ask')
    .action(async (o: { all?: boolean }) => {
      const r = await api().call<{ VolumesDeleted: string[]; SpaceReclaimed: number }>('POST', `/volumes/prune${o.all ? `?filters=${encodeURIComponent('{"all":["true"]}')}` : ''}`);
      process.stdout.write(`${deletedList('Volumes', r.VolumesDeleted)}Total reclaimed space: ${units(r.SpaceReclaimed)}\n`);
    });

  // the daemon's GET /system/df, in docker's table (sizes with 4 digits, as docker system df shows them)
  program.command('system').description('berth as a whole').command('df').description('disk use').option('-v, --verbose', 'each image, container and volume')
    .action(async (o: { verbose?: boolean }) => {
      type Img = { Id: string; RepoTags: string[]; Size: number; SharedSize: number; Containers: number };
      type Ctr = { Id: string; Names: string[]; Image: string; State: string; Status: string; SizeRw: number; Mounts: { Type: string }[] };
      type Vol = { Name: string; UsageData: { Size: number; RefCount: number } };
      const df = await api().call<{ LayersSize: number; Images: Img[]; Containers: Ctr[]; Volumes: Vol[] }>('GET', '/system/df');
      const size = (n: number) => units(n, 4);
      const share = (part: number, whole: number) => (whole > 0 ? `${size(part)} (${Math.floor((part * 100) / whole)}%)` : size(part));
      const usedImages = df.Images.filter((i) => i.Containers > 0);
      const ctrSize = df.Containers.reduce((n, c) => n + c.SizeRw, 0);
      const volSize = df.Volumes.reduce((n, v) => n + v.UsageData.Size, 0);
      process.stdout.write(table([
        ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
        ['Images', String(df.Images.length), String(usedImages.length), size(df.LayersSize), share(df.LayersSize - usedImages.reduce((n, i) => n + i.Size - i.SharedSize, 0), df.LayersSize)],
        ['Containers', String(df.Containers.length), String(df.Containers.filter((c) => c.State === 'running').length), size(ctrSize), share(df.Containers.filter((c) => c.State !== 'running').reduce((n, c) => n + c.SizeRw, 0), ctrSize)],
        ['Local Volumes', String(df.Volumes.length), String(df.Volumes.filter((v) => v.UsageData.RefCount > 0).length), size(volSize), share(df.Volumes.filter((v) => v.UsageData.RefCount === 0).reduce((n, v) => n + v.UsageData.Size, 0), volSize)],
        ['Build Cache', '0', '0', '0B', '0B'],
      ]));
      if (!o.verbose) return;
      process.stdout.write(`\nImages space usage:\n\n${table([['REPOSITORY:TAG', 'IMAGE ID', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
        ...df.Images.map((i) => [i.RepoTags.join(', ') || '<none>', i.Id.replace(/^sha256:/, '').slice(0, 12), size(i.Size), size(i.SharedSize), size(i.Size - i.SharedSize), String(i.Containers)])])}`);
      process.stdout.write(`\nContainers space usage:\n\n${table([['CONTAINER ID', 'IMAGE', 'LOCAL VOLUMES', 'SIZE', 'STATUS', 'NAMES'],
        ...df.Containers.map((c) => [c.Id.slice(0, 12), c.Image, String(c.Mounts.filter((m) => m.Type === 'volume').length), size(c.SizeRw), c.Status, c.Names[0]!.replace(/^\//, '')])])}`);
      process.stdout.write(`\nLocal Volumes space usage:\n\n${table([['VOLUME NAME', 'LINKS', 'SIZE'], ...df.Volumes.map((v) => [v.Name, String(v.UsageData.RefCount), size(v.UsageData.Size)])])}`);
    });

  program.command('events').description('stream the daemon\'s events').option('--filter <K=V>', 'filter', collect)
    .option('--since <t>', 'from this time on, past events included (unix seconds, RFC 3339, or a duration before now: 10m)').option('--until <t>', 'stop at this time (as --since)')
    .option('--format <tpl>', 'Go-template-like format ({{.Type}}, {{.Action}}, {{.Actor.ID}}, {{json .}})')
    .action(async (o: { filter?: string[]; since?: string; until?: string; format?: string }) => {
      const range = `${o.since ? `&since=${unixTime(o.since, '--since')}` : ''}${o.until ? `&until=${unixTime(o.until, '--until')}` : ''}`;
      type Event = { Type: string; Action: string; timeNano: number; Actor: { ID: string; Attributes: Record<string, string> } };
      for await (const e of jsonLines<Event>(await api().raw('GET', `/events?filters=${filtersParam(o.filter)}${range}`))) {
        if (o.format) { process.stdout.write(formatList(o.format, [e], {})); continue; }
        // docker's line: its fixed-width time, and the attributes in key order
        const attrs = Object.entries(e.Actor.Attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(', ');
        process.stdout.write(`${rfc3339NanoFixed(e.timeNano)} ${e.Type} ${e.Action} ${e.Actor.ID} (${attrs})\n`);
      }
    });
  program.command('info').description('system-wide information').option('-f, --format <tpl>', 'format')
    .action(async (o: { format?: string }) => {
      const i = await api().call<Record<string, unknown>>('GET', '/info');
      if (o.format) { process.stdout.write(`${formatGo(o.format, i)}\n`); return; }
      for (const k of ['Containers', 'ContainersRunning', 'ContainersPaused', 'ContainersStopped', 'Images', 'ServerVersion', 'Driver', 'CgroupVersion', 'KernelVersion', 'OperatingSystem', 'NCPU', 'MemTotal', 'DockerRootDir']) {
        process.stdout.write(`${k}: ${String(i[k])}\n`);
      }
    });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Sample = Record<string, any>;

/** A docker stats row: CPU % over the sample's interval, memory less the inactive page cache, as docker's CLI reckons them. */
function statsRow(s: Sample): string[] {
  const cpu = s.cpu_stats ?? {}, pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const cpuPct = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * (cpu.online_cpus || 1) * 100 : 0;
  const m = s.memory_stats ?? {};
  const mem = Math.max(0, (m.usage ?? 0) - (m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0));
  const lim = m.limit ?? 0;
  const io = (op: string) => ((s.blkio_stats?.io_service_bytes_recursive ?? []) as { op: string; value: number }[]).filter((x) => x.op.toLowerCase() === op).reduce((n, x) => n + x.value, 0);
  const nets = Object.values(s.networks ?? {}) as { rx_bytes: number; tx_bytes: number }[];
  const rx = nets.reduce((n, x) => n + x.rx_bytes, 0), tx = nets.reduce((n, x) => n + x.tx_bytes, 0);
  return [
    String(s.id).slice(0, 12), String(s.name).replace(/^\//, ''), `${cpuPct.toFixed(2)}%`, `${binaryUnits(mem)} / ${binaryUnits(lim)}`,
    `${lim ? ((mem / lim) * 100).toFixed(2) : '0.00'}%`, `${units(rx)} / ${units(tx)}`, `${units(io('read'))} / ${units(io('write'))}`, String(s.pids_stats?.current ?? 0),
  ];
}


