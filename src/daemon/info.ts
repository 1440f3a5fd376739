// GET /info: the daemon and its host as dockerd describes them, every field
// of the schema, each probed on this host (cgroup knobs, forwarding, the
// backing filesystem), not assumed.
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, hostname, release, totalmem } from 'node:os';
import { detectHost, oomKillDisableSupported, v1KnobSupported } from '../runtime/index.js';

export interface InfoInput {
  dataRoot: string;
  driver: string;
  containers: { running: number; paused: number; all: number };
  images: number;
  insecure: string[];
  mirrors: string[];
  eventListeners: number;
  version: string;
}

const procFlag = (path: string) => { try { return readFileSync(path, 'utf8').trim() === '1'; } catch { return false; } };
const osRelease = (key: string, fallback: string) => { try { return new RegExp(`^${key}="?([^"\\n]*)`, 'm').exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? fallback; } catch { return fallback; } };

/** Whether a knob file exists at the root of the hierarchy holding `controller` (v1: its own mount; v2: the unified one). */
function knob(controller: string, v1File: string, v2File: string): boolean {
  const host = detectHost();
  const v1 = host.hierarchies.find((h) => h.version === 1 && h.controllers.includes(controller));
  if (v1) return existsSync(join(v1.mount, v1File)) || readdirSync(v1.mount).some((d) => existsSync(join(v1.mount, d, v1File)));
  const v2 = host.hierarchies.find((h) => h.version === 2 && h.controllers.includes(controller));
  // v2 knobs are in child cgroups only: look one level down
  return !!v2 && readdirSync(v2.mount, { withFileTypes: true }).some((d) => d.isDirectory() && existsSync(join(v2.mount, d.name, v2File)));
}

const FS_NAMES: Record<number, string> = { 0xef53: 'extfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x01021994: 'tmpfs', 0x2fc12fc1: 'zfs', 0x794c7630: 'overlayfs' };

export function systemInfo(i: InfoInput): Record<string, unknown> {
  const host = detectHost();
  let backing = 'unknown';
  try { const type = Number(statfsSync(i.dataRoot).type); backing = FS_NAMES[type] ?? `0x${type.toString(16)}`; } catch { /* unknown */ }
  const has = (c: string) => host.hierarchies.some((h) => h.controllers.includes(c));
  const indexConfigs: Record<string, unknown> = { 'docker.io': { Name: 'docker.io', Mirrors: i.mirrors, Secure: true, Official: true } };
  for (const r of i.insecure) indexConfigs[r] = { Name: r, Mirrors: [], Secure: false, Official: false };
  return {
    ID: hostname(), Containers: i.containers.all, ContainersRunning: i.containers.running, ContainersPaused: i.containers.paused,
    ContainersStopped: i.containers.all - i.containers.running - i.containers.paused, Images: i.images,
    Driver: i.driver, DriverStatus: [['Backing Filesystem', backing], ['Supports d_type', 'true'], ['Native Overlay Diff', 'true'], ['userxattr', 'false']],
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file', 'local'] },
    MemoryLimit: has('memory'), SwapLimit: knob('memory', 'memory.memsw.limit_in_bytes', 'memory.swap.max'),
    KernelMemory: false, // discarded at create: kernels since 5.x do not apply it
    KernelMemoryTCP: v1KnobSupported(host, 'memory', 'memory.kmem.tcp.limit_in_bytes'), // applied where this knob is, as at create
    CpuCfsPeriod: knob('cpu', 'cpu.cfs_period_us', 'cpu.max'), CpuCfsQuota: knob('cpu', 'cpu.cfs_quota_us', 'cpu.max'),
    CPUShares: knob('cpu', 'cpu.shares', 'cpu.weight'), CPUSet: has('cpuset'), PidsLimit: has('pids'),
    IPv4Forwarding: procFlag('/proc/sys/net/ipv4/ip_forward'),
    BridgeNfIptables: procFlag('/proc/sys/net/bridge/bridge-nf-call-iptables'), BridgeNfIp6tables: procFlag('/proc/sys/net/bridge/bridge-nf-call-ip6tables'),
    Debug: false, // berthd has no debug mode
    NFd: readdirSync('/proc/self/fd').length - 1, OomKillDisable: oomKillDisableSupported(host),
    NGoroutines: process.getActiveResourcesInfo().length, // Node has no goroutines: its live handles and requests
    SystemTime: new Date().toISOString(), LoggingDriver: 'json-file', CgroupDriver: 'cgroupfs', CgroupVersion: host.mode === 'v2' ? '2' : '1',
    NEventsListener: i.eventListeners, KernelVersion: release(), OperatingSystem: osRelease('PRETTY_NAME', 'Linux'), OSVersion: osRelease('VERSION_ID', ''),
    OSType: 'linux', Architecture: process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch,
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: { AllowNondistributableArtifactsCIDRs: [], AllowNondistributableArtifactsHostnames: [], InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: indexConfigs, Mirrors: i.mirrors },
    NCPU: cpus().length, MemTotal: totalmem(), GenericResources: null, DockerRootDir: i.dataRoot,
    HttpProxy: process.env.HTTP_PROXY ?? process.env.http_proxy ?? '', HttpsProxy: process.env.HTTPS_PROXY ?? process.env.https_proxy ?? '', NoProxy: process.env.NO_PROXY ?? process.env.no_proxy ?? '',
    Name: hostname(), Labels: [], ExperimentalBuild: false, ServerVersion: i.version,
    // every name a create may give runs on berth's own runtime
    Runtimes: { runc: { path: 'berth-runtime' }, berth: { path: 'berth-runtime' }, 'io.containerd.runc.v2': { path: 'berth-runtime' } }, DefaultRuntime: 'runc',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: true, // containers outlive berthd: each is held by its shim
    Isolation: '', InitBinary: 'berth-init',
    ContainerdCommit: { ID: '', Expected: '' }, RuncCommit: { ID: i.version, Expected: i.version }, InitCommit: { ID: i.version, Expected: i.version },
    SecurityOptions: ['name=seccomp,profile=default', ...(host.mode === 'v2' ? ['name=cgroupns'] : [])],
    Warnings: null,
  };
}
