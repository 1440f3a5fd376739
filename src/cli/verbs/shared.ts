// What the container verbs share: the run options and the create body they
// make, docker's size and duration words, the attached streams and the
// signals passed on, inspect and filter helpers.
import { Command, Option } from 'commander';
import { readFileSync, writeSync } from 'node:fs';
import { isTransient } from '../http1.js';
import type { Socket } from 'node:net';
import { InvalidInput } from '../../util/check.js';
import { DaemonError, type ApiClient } from '../client.js';
import { formatGo } from '../format.js';
import { bytesOf } from '../../util/size.js';

export { bytesOf };
export const collect = (v: string, p: string[] = []) => [...p, v];

export function durationNs(field: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(v);
  if (!m) throw new InvalidInput(field, `invalid duration: '${v}' (e.g. 30s, 1m, 500ms)`);
  return Math.round(Number(m[1]) * { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as 's']);
}

export function parseEnvFile(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => (l.includes('=') ? l : `${l}=${process.env[l] ?? ''}`));
}

export function keyValues(list: string[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((kv) => { const i = kv.indexOf('='); return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)]; }));
}

export interface RunOpts {
  sigProxy?: boolean; detach?: boolean; interactive?: boolean; tty?: boolean; rm?: boolean; name?: string; env?: string[]; envFile?: string[]; workdir?: string; user?: string;
  hostname?: string; entrypoint?: string; label?: string[]; memory?: string; memorySwap?: string; cpus?: string; cpuShares?: string; cpusetCpus?: string;
  pidsLimit?: string; ulimit?: string[]; capAdd?: string[]; capDrop?: string[]; privileged?: boolean; readOnly?: boolean; securityOpt?: string[];
  device?: string[]; sysctl?: string[]; shmSize?: string; tmpfs?: string[]; stopSignal?: string; stopTimeout?: string; restart?: string; init?: boolean;
  healthCmd?: string; healthInterval?: string; healthTimeout?: string; healthRetries?: string; healthStartPeriod?: string; noHealthcheck?: boolean;
  volume?: string[]; mount?: string[]; volumesFrom?: string[]; network?: string; net?: string;
  publish?: string[]; publishAll?: boolean; expose?: string[]; ip?: string; ip6?: string; networkAlias?: string[]; macAddress?: string; logDriver?: string; logOpt?: string[]; attach?: string[];
  addHost?: string[]; link?: string[]; dns?: string[]; dnsSearch?: string[]; dnsOption?: string[]; groupAdd?: string[]; oomKillDisable?: boolean;
  pid?: string; ipc?: string; uts?: string; cgroupns?: string;
}

/** The flags `run` and `update` share: resources and the restart policy. */
export function addResourceOptions(c: Command): Command {
  return c
    .option('-m, --memory <bytes>', 'memory limit')
    .option('--memory-swap <bytes>', 'memory plus swap limit (-1: unlimited)')
    .option('--cpus <n>', 'number of CPUs')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpuset-cpus <list>', 'CPUs to run on (0-3, 0,1)')
    .option('--pids-limit <n>', 'process limit (-1: unlimited)')
    .option('--restart <policy>', 'no, always, unless-stopped, on-failure[:N]');
}

export type ResourceOpts = Pick<RunOpts, 'memory' | 'memorySwap' | 'cpus' | 'cpuShares' | 'cpusetCpus' | 'pidsLimit' | 'restart'>;

/** Those flags as HostConfig fields, only the ones given. */
export function resourceFields(o: ResourceOpts): Record<string, unknown> {
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

export function addRunOptions(c: Command): Command {
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
    .option('--link <name[:alias]>', 'a legacy link to another container (its address in /etc/hosts)', collect)
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
    .option('--network <mode>', 'bridge (the default), a network of yours, none (loopback only), host, or container:NAME', 'default')
    .option('-p, --publish <[ip:][hostPort:]port[/proto]>', 'publish a container port on the host (ranges too)', collect)
    .option('-P, --publish-all', 'publish every exposed port on a free host port')
    .option('--expose <port[/proto]>', 'expose a port (or a range)', collect)
    .option('--ip <address>', 'IPv4 address on a network of yours')
    .option('--ip6 <address>', 'IPv6 address on a network of yours with IPv6')
    .option('--network-alias <name>', 'another name on the network', collect)
    .option('--mac-address <mac>', 'MAC address of eth0')
    .addOption(new Option('--net <mode>').hideHelp())
    .option('--log-driver <driver>', 'json-file, local or none')
    .option('--log-opt <K=V>', 'max-size, max-file', collect);
}

export function parseMount(spec: string) {
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

/** A port or a range ("80", "8000-8010") as numbers. */
function portRange(text: string, flag: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const a = Number(m?.[1]), b = Number(m?.[2] ?? m?.[1]);
  if (!m || a < 1 || b > 65535 || b < a) throw new InvalidInput(flag, `invalid port or range "${text}"`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** -p [ip:][hostPort:]port[/proto] and --expose as docker's PortBindings and ExposedPorts. */
export function publishedPorts(publish: string[], expose: string[]): { bindings: Record<string, { HostIp: string; HostPort: string }[]>; exposed: Record<string, object> } {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {}, exposed: Record<string, object> = {};
  for (const e of expose) {
    const [ports, proto = 'tcp'] = e.split('/');
    for (const p of portRange(ports!, '--expose')) exposed[`${p}/${proto}`] = {};
  }
  for (const spec of publish) {
    const [addr, proto = 'tcp'] = spec.split('/');
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new InvalidInput('--publish', `invalid protocol "${proto}" in "${spec}"`);
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(addr!);
    const parts = v6 ? [v6[1]!, ...v6[2]!.split(':')] : addr!.split(':');
    if (parts.length > 3) throw new InvalidInput('--publish', `invalid port specification "${spec}"`);
    const [hostIp, hostPorts, ctrPorts] = parts.length === 3 ? parts : parts.length === 2 ? ['', parts[0]!, parts[1]!] : ['', '', parts[0]!];
    const ctr = portRange(ctrPorts!, '--publish');
    const host = hostPorts ? portRange(hostPorts, '--publish') : [];
    if (host.length > 1 && host.length !== ctr.length && ctr.length !== 1) throw new InvalidInput('--publish', `the host and container ranges of "${spec}" differ in size`);
    // one container port and a host range: the daemon takes the first free port of it (docker's HostPort "A-B")
    const hostPort = (i: number) => (!host.length ? '' : host.length === 1 ? String(host[0]) : ctr.length === 1 ? hostPorts! : String(host[i]));
    ctr.forEach((p, i) => {
      const key = `${p}/${proto}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: hostIp ?? '', HostPort: hostPort(i) });
    });
  }
  return { bindings, exposed };
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
  const net = o.net ?? o.network ?? 'default';
  const { bindings, exposed } = publishedPorts(o.publish ?? [], o.expose ?? []);
  const ipam = o.ip || o.ip6 ? { ...(o.ip ? { IPv4Address: o.ip } : {}), ...(o.ip6 ? { IPv6Address: o.ip6 } : {}) } : undefined;
  const endpoint = ipam || o.networkAlias?.length ? { [net]: { IPAMConfig: ipam, Aliases: o.networkAlias ?? [] } } : {};
  return {
    ExposedPorts: exposed, MacAddress: o.macAddress, NetworkingConfig: { EndpointsConfig: endpoint },
    Image: image, Cmd: cmd.length ? cmd : undefined, Entrypoint: o.entrypoint !== undefined ? [o.entrypoint].filter((x, i) => x !== '' || i > 0) : undefined,
    Env: env, WorkingDir: o.workdir, User: o.user, Hostname: o.hostname, Labels: keyValues(o.label),
    Tty: !!o.tty, OpenStdin: !!o.interactive, StdinOnce: !!o.interactive && !o.detach,
    AttachStdin: !!o.interactive && !o.detach, AttachStdout: !o.detach, AttachStderr: !o.detach,
    StopSignal: o.stopSignal, StopTimeout: o.stopTimeout !== undefined ? Number(o.stopTimeout) : undefined, Healthcheck: health,
    HostConfig: {
      AutoRemove: !!o.rm, Binds: o.volume ?? [], Mounts: (o.mount ?? []).map(parseMount), VolumesFrom: o.volumesFrom ?? [], Tmpfs: tmpfs,
      NetworkMode: net, PortBindings: bindings, PublishAllPorts: !!o.publishAll,
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
export type Sink = (fd: 1 | 2, d: Buffer) => void;

export const streamOf = (fd: 1 | 2) => (fd === 2 ? process.stderr : process.stdout);

/** Through process.stdout/stderr; a full pipe pauses `from` until it drains. */
export const queued = (from: Socket): Sink => (fd, d) => {
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
export const immediate = (from: Socket): Sink => {
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
export function demux(sock: Socket, sink: Sink): Promise<string> {
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
export async function pumpStreams(api: ApiClient, sock: Socket, tty: boolean, stdin: boolean, resizePath?: string): Promise<void> {
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

export async function createContainer(api: ApiClient, body: Record<string, unknown>, name?: string): Promise<string> {
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
    // a refusal ({"message"}) or an error in the progress stream ({"error"}): the message alone, as the daemon's
    const lines = text.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l) as { error?: string; message?: string }; } catch { return { message: l }; } });
    const err = lines.find((l) => l.error)?.error ?? (res.statusCode >= 400 ? lines.map((l) => l.message).join(' ') : undefined);
    if (err !== undefined) throw new DaemonError(res.statusCode >= 400 ? res.statusCode : 500, err);
    return await created();
  }
}

/** docker's --sig-proxy[=false] (true by default). */
export const SIG_PROXY = ['--sig-proxy [bool]', 'pass the signals berth receives on to the container (not with -t)', (v: string) => v !== 'false' && v !== '0', true] as const;

/** What docker's CLI passes on (all it can catch, less its own pipes' and children's). */
export const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGWINCH'];

/**
 * While attached without a terminal, the signals the CLI receives go to the
 * container (docker's sig-proxy): Ctrl-C stops the container's process, not
 * only the CLI. A terminal sends its own keys. Returns the undo.
 */
export function proxySignals(api: ApiClient, id: string, on: boolean | undefined, tty: boolean): () => void {
  if (on === false || tty) return () => {};
  const pass = (sig: NodeJS.Signals) => { void api.call('POST', `/containers/${id}/kill?signal=${sig}`).catch(() => {}); };
  for (const s of PROXIED) process.on(s, pass);
  return () => { for (const s of PROXIED) process.off(s, pass); };
}

/** What docker's generic inspect says of a name that is neither a container nor an image. */
export class NoSuchObject extends Error {}

/**
 * docker's inspect of several objects: those found (a JSON array, or a
 * --format line each), then one line for each that is not, and exit 1.
 */
export async function inspectEach(names: string[], format: string | undefined, get: (name: string) => Promise<unknown>): Promise<void> {
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
export const deletedList = (what: string, names: string[]) => (names.length ? `Deleted ${what}:\n${names.map((x) => `${x}\n`).join('')}\n` : '');

/** --filter K=V flags as the API's filters query value. */
export function filtersParam(list: string[] | undefined): string {
  const filters: Record<string, string[]> = {};
  for (const f of list ?? []) { const i = f.indexOf('='); (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1)); }
  return encodeURIComponent(JSON.stringify(filters));
}

/** As docker's CLI does, a seccomp profile named by its path is sent as its content. */
export function securityOpt(opt: string): string {
  const m = /^seccomp[=:](.+)$/.exec(opt);
  if (!m || m[1] === 'unconfined' || m[1]!.trimStart().startsWith('{')) return opt;
  try { return `seccomp=${readFileSync(m[1]!, 'utf8')}`; } catch (e) {
    throw new InvalidInput('--security-opt', `cannot read the seccomp profile ${m[1]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** A verb over several containers, as docker's: each one named as it is done, each failure told; `summary`: docker's last line for some verbs. */
export const each = (fn: (id: string, o: Record<string, string | boolean>) => Promise<unknown>, summary?: string) => async (ids: string[], o: Record<string, string | boolean>) => {
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
