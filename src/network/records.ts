// Network records as docker shows them, with what berth keeps beside them
// (the bridge's name, its MTU, the endpoints with their leases and
// published ports), each written atomically to <data>/network/<id>.json,
// its endpoints beside it in <id>.endpoints.json.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';

export interface IpamConfig { Subnet: string; Gateway: string; IPRange?: string }

/** A port published on the host: hostIp '' is every address. */
export interface PortMapping { proto: 'tcp' | 'udp'; hostIp: string; hostPort: number; containerPort: number }

export interface EndpointRecord {
  EndpointID: string;
  ContainerID: string;
  /** the container's name, without "/" */
  Name: string;
  IPv4Address: string;
  IPv6Address: string;
  MacAddress: string;
  Aliases: string[];
  /** the host end of its veth */
  HostLink: string;
  Ports: PortMapping[];
  /** the splice forwarder serving ports the kernel cannot (proxy.ts), when one runs */
  ProxyPid?: number;
}

export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: 'default'; Options: Record<string, string>; Config: IpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: false;
  ConfigFrom: { Network: string };
  ConfigOnly: false;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** berth's own: the bridge (none for host and null), its MTU, the endpoints by container */
  Bridge: string;
  Mtu: number;
  Endpoints: Record<string, EndpointRecord>;
}

/** A network's IPv4 IPAM config (its gateway is the one its containers route through). */
export const ipv4Config = (n: NetworkRecord): IpamConfig | undefined => n.IPAM.Config.find((c) => !c.Subnet.includes(':'));

/** A network's IPv6 IPAM config, when it has IPv6 (EnableIPv6 and an IPv6 subnet). */
export const ipv6Config = (n: NetworkRecord): IpamConfig | undefined => (n.EnableIPv6 ? n.IPAM.Config.find((c) => c.Subnet.includes(':')) : undefined);

export class NetworkFiles {
  constructor(readonly dir: string) { mkdirSync(dir, { recursive: true, mode: 0o700 }); }

  /** A network's definition, durably: written when it is made, never again. */
  save(n: NetworkRecord): void {
    writeFileAtomic(join(this.dir, `${n.Id}.json`), JSON.stringify({ ...n, Endpoints: {} }));
  }

  /**
   * Its endpoints, atomically but not synced (two fsyncs of every start
   * and exit): they are those of running containers, which a power loss
   * ends, and a restart drops the endpoints of containers not running.
   */
  saveEndpoints(n: NetworkRecord): void {
    writeFileAtomic(join(this.dir, `${n.Id}${ENDPOINTS}`), JSON.stringify(n.Endpoints), { durable: false });
  }

  remove(id: string): void {
    rmSync(join(this.dir, `${id}${ENDPOINTS}`), { force: true });
    rmSync(join(this.dir, `${id}.json`), { force: true });
  }

  /** Every record with its endpoints; a file a crash left half-written (a temp name) is not one. */
  load(): NetworkRecord[] {
    if (!existsSync(this.dir)) return [];
    const out: NetworkRecord[] = [];
    const read = (f: string): unknown => { try { return JSON.parse(readFileSync(join(this.dir, f), 'utf8')); } catch { return undefined; } };
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) { rmSync(join(this.dir, f), { force: true }); continue; }
      if (f.endsWith(ENDPOINTS)) continue;
      const n = read(f) as NetworkRecord | undefined;
      if (!n) continue; // unreadable: skipped
      // a record written before endpoints had a file of their own keeps them in it
      const endpoints = read(f.replace(/\.json$/, ENDPOINTS)) as NetworkRecord['Endpoints'] | undefined;
      out.push({ ...n, Endpoints: endpoints ?? n.Endpoints ?? {} });
    }
    return out;
  }
}

const ENDPOINTS = '.endpoints.json';
