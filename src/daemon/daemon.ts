// berthd: serves the Docker Engine API on its sockets over berth's image
// store and containers. One daemon per data root. It stands above the API:
// it wires the route groups to the engine and the store.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, rmSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connect, type Server } from 'node:net';
import { release } from 'node:os';
import type { ImageStore } from '../image/index.js';
import { imageStoreIn, Engine, DEFAULT_EXEC_ROOT, removeBuildSteps } from '../engine/index.js';
import { API_VERSION, MIN_API_VERSION, Router, apiServer, closeServer, type UpgradeHandler } from '../api/server.js';
import { imageRoutes } from '../api/images.js';
import { containerRoutes } from '../api/containers.js';
import { streamRoutes } from '../api/streams.js';
import { execRoutes } from '../api/exec.js';
import { fileRoutes } from '../api/files.js';
import { volumeRoutes } from '../api/volumes.js';
import { eventListeners, systemRoutes } from '../api/system.js';
import { systemInfo } from './info.js';
import { networkRoutes } from '../api/networks.js';
import { absentRoutes } from '../api/absent.js';
import { buildRoutes } from '../api/build.js';
import { writeFileAtomic } from '../util/atomic.js';
import { fsx } from '../util/fsx.js';
import { VERSION } from '../version.js';

export { DEFAULT_SOCKET, DEFAULT_EXEC_ROOT } from '../engine/index.js';

export interface DaemonOptions {
  dataRoot: string;
  /** sockets of the shims and the runtime's state: short paths, on tmpfs */
  execRoot?: string;
  socket: string;
  /** more listeners: unix:///var/run/docker.sock, tcp://127.0.0.1:2375 (loopback unless allowRemoteTcp) */
  extraHosts?: string[];
  allowRemoteTcp?: boolean;
  /** cgroup under which containers go (default /berth) */
  cgroupParent?: string;
  /** published TCP ports take outside traffic past the host's input chain (the forwarder), not by DNAT before it */
  portsObeyInput?: boolean;
  insecureRegistries?: string[];
  mirrors?: string[];
  /** Serves "POST /berth/cli" on the main socket: the berth CLI's workers (src/cli/worker-pool.ts). */
  cli?: UpgradeHandler & { close(): void };
}

/** Makes `path` free for a listener: refused when a live daemon answers there, a stale file is removed. */
async function claimSocket(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (!existsSync(path)) return;
  if (await answering(path)) throw new Error(`another daemon answers on ${path}`);
  unlinkSync(path); // left by a daemon that died
}

/** Whether something answers on `socket` (a live daemon), so a stale file can be replaced. */
function answering(socket: string): Promise<boolean> {
  return new Promise((res) => {
    const c = connect(socket, () => { c.end(); res(true); });
    c.on('error', () => res(false));
  });
}

export class Daemon {
  private server: Server | undefined;
  private extra: { server: Server; path?: string }[] = [];
  private store: ImageStore | undefined;
  private containers: Engine | undefined;
  private rootLock: number | undefined;

  constructor(readonly opts: DaemonOptions) {}

  /**
   * One daemon per data root, held for its life (flock: the kernel lets go
   * when it dies). A second would re-adopt the same containers and clean up
   * what the first is making.
   */
  private lockDataRoot(): void {
    mkdirSync(this.opts.dataRoot, { recursive: true, mode: 0o711 });
    const fd = openSync(join(this.opts.dataRoot, 'berthd.lock'), 'a', 0o600);
    if (!fsx().tryLock(fd)) { closeSync(fd); throw new Error(`another berthd uses the data root ${this.opts.dataRoot}`); }
    this.rootLock = fd;
  }

  private images(): ImageStore {
    return (this.store ??= imageStoreIn(this.opts.dataRoot));
  }

  engine(): Engine {
    return (this.containers ??= new Engine(this.opts.dataRoot, this.opts.execRoot ?? DEFAULT_EXEC_ROOT, () => this.images(), this.opts.cgroupParent, { portsObeyInput: this.opts.portsObeyInput }));
  }

  router(): Router {
    const r = new Router();
    r.add('GET', '/_ping', (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache, no-store, must-revalidate' }); res.end('OK'); });
    r.add('GET', '/version', () => ({
      Platform: { Name: 'berth' }, Version: VERSION, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION,
      Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, KernelVersion: release(), GoVersion: `node${process.versions.node}`,
      GitCommit: 'berth', BuildTime: '',
      Components: [{ Name: 'Engine', Version: VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, KernelVersion: release(), GitCommit: 'berth', GoVersion: `node${process.versions.node}` } }],
    }));
    r.add('GET', '/info', () => {
      const s = this.images();
      const cs = this.engine().list();
      const running = cs.filter((c) => c.State.Running && !c.State.Paused).length, paused = cs.filter((c) => c.State.Paused).length;
      return systemInfo({
        dataRoot: this.opts.dataRoot, driver: s.snapshots.driver, containers: { running, paused, all: cs.length }, images: s.list().length,
        insecure: this.opts.insecureRegistries ?? [], mirrors: this.opts.mirrors ?? [], eventListeners: eventListeners(), version: VERSION,
      });
    });
    imageRoutes(r, () => this.images(), () => ({ insecure: this.opts.insecureRegistries ?? [], mirrors: this.opts.mirrors ?? [] }), (action, id, attrs) => this.engine().publish('image', action, id, attrs, id));
    const engine = () => this.engine();
    for (const routes of [containerRoutes, streamRoutes, execRoutes, fileRoutes, volumeRoutes, systemRoutes]) routes(r, engine);
    networkRoutes(r, () => this.engine());
    absentRoutes(r);
    buildRoutes(r, () => this.engine(), () => this.images(), () => ({ insecure: this.opts.insecureRegistries ?? [], mirrors: this.opts.mirrors ?? [] }), (action, id, attrs) => this.engine().publish('image', action, id, attrs, id));
    return r;
  }

  async start(): Promise<void> {
    const sock = this.opts.socket;
    this.lockDataRoot();
    await claimSocket(sock);
    this.images();
    await this.engine().restore();
    this.server = apiServer(this.router(), VERSION, this.opts.cli);
    await new Promise<void>((res, rej) => { this.server!.once('error', rej); this.server!.listen(sock, () => res()); });
    chmodSync(sock, 0o660);
    for (const h of this.opts.extraHosts ?? []) await this.listenExtra(h);
    writeFileAtomic(join(this.opts.dataRoot, 'berthd.pid'), String(process.pid), { durable: false });
    removeBuildSteps(this.engine()).catch((e: Error) => process.stderr.write(`berthd: build steps left by a crash: ${e.message}\n`));
  }

  private async listenExtra(host: string): Promise<void> {
    const server = apiServer(this.router(), VERSION);
    const listen = (...args: unknown[]) => new Promise<void>((res, rej) => { server.once('error', rej); (server.listen as (...a: unknown[]) => void)(...args, () => res()); });
    if (host.startsWith('unix://')) {
      const path = host.slice(7);
      await claimSocket(path);
      await listen(path);
      chmodSync(path, 0o660);
      this.extra.push({ server, path });
      return;
    }
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:]+):(\d+)$/.exec(host);
    if (!m) throw new Error(`-H ${host}: expected unix:///path or tcp://HOST:PORT`);
    const addr = m[1]!.replace(/^\[|\]$/g, '');
    const loopback = addr === 'localhost' || addr === '::1' || /^127\./.test(addr);
    // the API gives root on this machine to whoever reaches it: no other address without saying so
    if (!loopback && !this.opts.allowRemoteTcp) throw new Error(`-H ${host}: TCP is served on loopback only (127.0.0.0/8, ::1); --tcp-allow-remote serves ${addr} without authentication`);
    await listen(Number(m[2]), addr);
    this.extra.push({ server });
  }

  async stop(): Promise<void> {
    this.containers?.shutdown();
    this.opts.cli?.close();
    if (this.server) await closeServer(this.server);
    for (const x of this.extra) {
      await closeServer(x.server);
      if (x.path) rmSync(x.path, { force: true });
    }
    // the socket and pid file are ours only with the data root's lock: a
    // berthd that lost the lock must not take away the winner's
    if (this.rootLock === undefined) return;
    rmSync(this.opts.socket, { force: true });
    rmSync(join(this.opts.dataRoot, 'berthd.pid'), { force: true });
    closeSync(this.rootLock);
    this.rootLock = undefined;
  }
}
