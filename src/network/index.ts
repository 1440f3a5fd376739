// Networks, the subsystem's public face: the predefined ones (bridge, host,
// none) and user-defined bridges; a container's endpoints (a veth pair, an
// address from IPAM, published ports) made when it starts and given back
// when it ends; berth's nftables table kept in step with them. The engine
// calls connect / release; the API lists, creates and removes.
import { createHash, randomBytes } from 'node:crypto';
import { Conflict, Forbidden, InvalidInput, NotFound } from '../util/check.js';
import { applyRuleset, ruleset } from './firewall.js';
import { bridgePlan, endpointPlan, linkExists, linkNames, runLinks, type LinkOp } from './links.js';
import { contains, formatIp, formatSubnet, hostHasIpv6, hostRoutes, hostRoutes6, nextFree, overlaps, parseIp, parseSubnet, pickSubnet, ulaSubnet, within, type Subnet } from './ipam.js';
import { NetworkFiles, ipv4Config, ipv6Config, type EndpointRecord, type IpamConfig, type NetworkRecord, type PortMapping } from './records.js';
import { portInUse, type PortRequest } from './ports.js';
import { EmbeddedDns, RESOLVER_IP } from './dns.js';
import { FastPath } from './fastpath.js';
import { syncDockerUser } from './docker-user.js';
import { ProxyError, proxyPlan, proxyRuns, reapProxy, startProxy, stopProxy } from './proxy.js';

export { ipv4Config, ipv6Config, type EndpointRecord, type NetworkRecord, type PortMapping } from './records.js';
export { parsePortBindings, exposedPorts, type PortRequest } from './ports.js';
export { LinkError } from './links.js';
export { FirewallError } from './firewall.js';
export { hostResolvConf } from './dns.js';
export { syncDockerUser } from './docker-user.js';

export interface NetworkOptions {
  /** berth's nftables table (inet family) */
  table: string;
  /** the default network's bridge */
  defaultBridge: string;
  publish(action: string, n: NetworkRecord, extra?: Record<string, string>): void;
  /** published TCP ports take outside traffic through the forwarder, past the host's input chain, not by DNAT before it */
  portsObeyInput?: boolean;
}

/** What a container asks of one network when it joins. */
export interface JoinRequest {
  containerId: string; name: string; ifname: string;
  /** the container's init, and its network namespace */
  pid: number; netns: string;
  aliases?: string[]; ip?: string; ip6?: string; mac?: string; ports?: PortRequest[];
  /** the default route goes through this network */
  defaultRoute: boolean;
}

const PREDEFINED = ['bridge', 'host', 'none'];

/**
 * The names a daemon's network state takes on the host: "berth" and
 * "berth0" for the default data root, else names derived from the root, so
 * that two daemons (a test's and the system's) never share a table or a bridge.
 */
export function hostNames(dataRoot: string, defaultRoot: string): { table: string; defaultBridge: string } {
  if (dataRoot === defaultRoot) return { table: 'berth', defaultBridge: 'berth0' };
  const h = createHash('sha256').update(dataRoot).digest('hex').slice(0, 8);
  return { table: `berth_${h}`, defaultBridge: `bh${h}` };
}
const MTU_OPT = 'com.docker.network.driver.mtu', NAME_OPT = 'com.docker.network.bridge.name';

export class Networks {
  private readonly files: NetworkFiles;
  private readonly nets = new Map<string, NetworkRecord>();
  private readonly dns: EmbeddedDns;
  private readonly fast = new FastPath((m) => process.stderr.write(`berthd: ${m}\n`));

  constructor(dir: string, private readonly o: NetworkOptions) {
    this.files = new NetworkFiles(dir);
    this.dns = new EmbeddedDns((cid) => this.namedNetworksOf(cid), (m) => process.stderr.write(`berthd: ${m}\n`));
    for (const n of this.files.load()) this.nets.set(n.Id, n);
  }

  /** Makes the predefined networks; drops the endpoints of containers no longer running (their links went with them) and remakes missing bridges. */
  restore(initPid: (containerId: string) => number | undefined): void {
    for (const name of PREDEFINED) if (!this.byName(name)) this.add(predefined(name, this.o.defaultBridge, this.takenSubnets()));
    for (const n of this.nets.values()) {
      let changed = false;
      for (const [cid, e] of Object.entries(n.Endpoints)) {
        const pid = initPid(cid);
        if (pid) {
          changed = this.restoreProxy(e, pid) || changed;
          this.fast.add(n, e);
          if (hasDns(n)) this.attachDns(cid, pid);
          continue;
        }
        delete n.Endpoints[cid];
        if (linkExists(e.HostLink)) runLinks([{ op: 'del', name: e.HostLink }]);
        changed = true;
      }
      // a bridge with containers on it that a reboot took is made again; the default one waits for its first container
      if (n.Bridge && (n.Name !== 'bridge' || Object.keys(n.Endpoints).length)) this.ensureBridge(n);
      if (changed) this.files.saveEndpoints(n);
    }
    this.syncFirewall();
  }

  /** A forwarder that a crash or a kill took is started again: false when none was missing. */
  private restoreProxy(e: EndpointRecord, pid: number): boolean {
    const plan = proxyPlan(e, !!this.o.portsObeyInput);
    if (!plan.length || proxyRuns(e.ProxyPid)) return false;
    try { e.ProxyPid = startProxy(pid, plan); } catch (err) { process.stderr.write(`berthd: ports of ${e.Name}: ${(err as Error).message}\n`); e.ProxyPid = undefined; }
    return true;
  }

  /** The daemon stops: the DNS sockets close (links, rules and forwarders stay, with the containers). */
  shutdown(): void {
    this.dns.stopAll();
    clearTimeout(this.sweep);
    this.sweepEnded();
  }

  /** The address of the embedded DNS for a container on a user-defined network (127.0.0.11, in its namespace); the default bridge has none, as in docker. */
  resolverOf(ref: string): string | undefined {
    return hasDns(this.get(ref)) ? RESOLVER_IP : undefined;
  }

  /** The user-defined networks a container is on: the ones whose names its resolver answers. */
  private namedNetworksOf(containerId: string): NetworkRecord[] {
    return [...this.nets.values()].filter((n) => hasDns(n) && n.Endpoints[containerId]);
  }

  /** A container without its names answers without them; the rest of its network works. */
  private attachDns(containerId: string, pid: number): void {
    try { this.dns.attach(containerId, pid); } catch (e) { process.stderr.write(`berthd: the embedded DNS of ${containerId.slice(0, 12)}: ${(e as Error).message}\n`); }
  }

  list(): NetworkRecord[] { return [...this.nets.values()].sort((a, b) => a.Name.localeCompare(b.Name)); }

  /** By name, whole ID, or a unique ID prefix, as docker finds them. */
  get(ref: string): NetworkRecord {
    const n = this.nets.get(ref) ?? this.byName(ref);
    if (n) return n;
    const hits = [...this.nets.values()].filter((x) => ref.length >= 1 && x.Id.startsWith(ref));
    if (hits.length === 1) return hits[0]!;
    if (hits.length > 1) throw new InvalidInput('network', `network ${ref} is ambiguous (${hits.length} matches found based on ID prefix)`);
    throw new NotFound('network', `network ${ref} not found`);
  }

  private byName(name: string): NetworkRecord | undefined { return [...this.nets.values()].find((n) => n.Name === name); }

  /** A network's record; a user-defined network's bridge is made now, the default one with its first container (a daemon that runs none leaves no bridge). */
  private add(n: NetworkRecord): void {
    if (n.Bridge && n.Name === 'bridge' && linkExists(n.Bridge)) runLinks([{ op: 'del', name: n.Bridge }]); // this daemon's name: left by a crash with no record
    if (n.Bridge && n.Name !== 'bridge') this.ensureBridge(n);
    this.files.save(n);
    this.nets.set(n.Id, n);
  }

  private ensureBridge(n: NetworkRecord): void {
    if (!linkExists(n.Bridge)) runLinks(bridgePlan(n.Bridge, n.Mtu, gatewayCidrs(n)));
  }

  /** What a new network's subnet must not overlap: the other networks', and the host's routes. */
  private takenSubnets(): Subnet[] {
    return [...[...this.nets.values()].flatMap((n) => n.IPAM.Config.map((c) => parseSubnet(c.Subnet, 'Subnet'))), ...hostRoutes(), ...hostRoutes6()];
  }

  /** `network create` (bridge driver). */
  create(body: Record<string, unknown>): { Id: string; Warning: string } {
    const name = body.Name;
    if (typeof name !== 'string' || !name) throw new InvalidInput('Name', 'is required');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new InvalidInput('Name', `invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (this.byName(name)) throw new Conflict('Name', `network with name ${name} already exists`);
    const driver = (body.Driver as string) || 'bridge';
    if (driver !== 'bridge') throw new NotFound('Driver', `plugin "${driver}" not found (berth has the bridge driver)`);
    const options = (body.Options ?? {}) as Record<string, string>;
    const mtu = options[MTU_OPT] ? Number(options[MTU_OPT]) : 0;
    if (!Number.isInteger(mtu) || mtu < 0 || mtu > 65535) throw new InvalidInput(`Options.${MTU_OPT}`, `invalid MTU ${options[MTU_OPT]}`);
    const id = randomBytes(32).toString('hex');
    const bridge = options[NAME_OPT] || `br-${id.slice(0, 12)}`;
    if (bridge.length > 15 || !/^[a-zA-Z0-9_.-]+$/.test(bridge)) throw new InvalidInput(`Options.${NAME_OPT}`, `invalid bridge name "${bridge}" (at most 15 of [a-zA-Z0-9_.-])`);
    if (linkExists(bridge) || [...this.nets.values()].some((n) => n.Bridge === bridge)) throw new Conflict(`Options.${NAME_OPT}`, `bridge ${bridge} already exists`);
    const ipam = (body.IPAM ?? {}) as { Config?: { Subnet?: string; Gateway?: string; IPRange?: string }[] };
    const config = this.ipamConfig(ipam.Config ?? [], !!body.EnableIPv6);
    const n: NetworkRecord = {
      Name: name, Id: id, Created: new Date().toISOString(), Scope: 'local', Driver: 'bridge', EnableIPv6: !!body.EnableIPv6,
      IPAM: { Driver: 'default', Options: {}, Config: config }, Internal: !!body.Internal, Attachable: !!body.Attachable, Ingress: false,
      ConfigFrom: { Network: '' }, ConfigOnly: false, Options: options, Labels: (body.Labels ?? {}) as Record<string, string>,
      Bridge: bridge, Mtu: mtu, Endpoints: {},
    };
    try { this.add(n); } catch (e) {
      try { runLinks([{ op: 'del', name: bridge }]); } catch { /* not made */ }
      this.files.remove(id);
      throw e;
    }
    this.syncFirewall(); // isolated from the others, masqueraded out, from the start
    this.o.publish('create', n, { type: 'bridge' });
    return { Id: id, Warning: '' };
  }

  /** The IPAM config of a new network: the subnets asked for (checked) or one picked from the pools. */
  private ipamConfig(asked: { Subnet?: string; Gateway?: string; IPRange?: string }[], ipv6: boolean): IpamConfig[] {
    const taken = this.takenSubnets();
    const out: IpamConfig[] = [];
    for (const [i, c] of asked.entries()) {
      const field = `IPAM.Config[${i}]`;
      if (!c.Subnet) throw new InvalidInput(`${field}.Subnet`, 'is required with a gateway or an IP range');
      const s = parseSubnet(c.Subnet, `${field}.Subnet`);
      if (s.family === 6 && !ipv6) throw new InvalidInput(`${field}.Subnet`, `an IPv6 subnet (${c.Subnet}) needs EnableIPv6 (--ipv6)`);
      const clash = taken.find((t) => overlaps(s, t));
      if (clash) throw new Forbidden(`${field}.Subnet`, `Pool overlaps with other one on this address space: ${c.Subnet} overlaps ${formatSubnet(clash)}`);
      if (c.IPRange) {
        const r = parseSubnet(c.IPRange, `${field}.IPRange`);
        if (!within(r, s)) throw new InvalidInput(`${field}.IPRange`, `the IP range ${c.IPRange} is not inside the subnet ${c.Subnet}`);
      }
      let gw = s.base + 1n;
      if (c.Gateway) {
        const g = parseIp(c.Gateway, `${field}.Gateway`);
        if (!contains(s, g.family, g.value)) throw new InvalidInput(`${field}.Gateway`, `no matching subnet for gateway ${c.Gateway}: it is outside ${c.Subnet}`);
        gw = g.value;
      }
      out.push({ Subnet: formatSubnet(s), Gateway: formatIp(s.family, gw), ...(c.IPRange ? { IPRange: c.IPRange } : {}) });
      taken.push(s);
    }
    if (!out.some((c) => !c.Subnet.includes(':'))) {
      const s = pickSubnet(taken);
      out.unshift({ Subnet: formatSubnet(s), Gateway: formatIp(4, s.base + 1n) });
    }
    if (ipv6 && !out.some((c) => c.Subnet.includes(':'))) {
      const s = ulaSubnet();
      out.push({ Subnet: formatSubnet(s), Gateway: formatIp(6, s.base + 1n) });
    }
    return out;
  }

  /** `network rm`: refused (403, as docker does) for the predefined ones and while containers are connected. */
  remove(ref: string): void {
    const n = this.get(ref);
    if (PREDEFINED.includes(n.Name)) throw new Forbidden('network', `${n.Name} is a pre-defined network and cannot be removed`);
    if (Object.keys(n.Endpoints).length) throw new Forbidden('network', `error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
    this.drop(n);
  }

  private drop(n: NetworkRecord): void {
    if (n.Bridge) runLinks([{ op: 'del', name: n.Bridge }]);
    this.files.remove(n.Id);
    this.nets.delete(n.Id);
    this.fast.drop(n);
    this.syncFirewall(); // its rules go with it, and the table when it was the last bridge
    this.o.publish('destroy', n, { type: n.Driver });
  }

  /** `network prune`: user networks without endpoints, unless `keep` says otherwise. */
  prune(keep: (n: NetworkRecord) => boolean): string[] {
    const gone: string[] = [];
    for (const n of [...this.nets.values()]) {
      if (PREDEFINED.includes(n.Name) || Object.keys(n.Endpoints).length || keep(n)) continue;
      this.drop(n);
      gone.push(n.Name);
    }
    return gone;
  }

  /**
   * Joins a started (not yet running) container's namespace to a network:
   * a veth pair, an address, the default route when asked, its published
   * ports. Nothing is left of it when it fails.
   */
  connect(ref: string, j: JoinRequest): EndpointRecord {
    const n = this.get(ref);
    if (!n.Bridge) throw new InvalidInput('network', `container cannot be connected to the ${n.Name} network`);
    if (n.Endpoints[j.containerId]) throw new Forbidden('network', `endpoint with name ${j.name} already exists in network ${n.Name}`);
    this.ensureBridge(n);
    const v4 = ipv4Config(n)!, v6 = ipv6Config(n);
    if (j.ip6 && !v6) throw new InvalidInput('IPAMConfig.IPv6Address', `network ${n.Name} has no IPv6 subnet (create it with --ipv6 --subnet)`);
    const ip = this.lease(n, v4, j.ip, 'IPv4Address');
    const ip6 = v6 ? this.lease(n, v6, j.ip6, 'IPv6Address') : undefined;
    const eid = randomBytes(32).toString('hex');
    const e: EndpointRecord = {
      EndpointID: eid, ContainerID: j.containerId, Name: j.name, IPv4Address: ip, IPv6Address: ip6 ?? '',
      MacAddress: j.mac || macOf(parseIp(ip.split('/')[0]!, 'IPv4Address').value), Aliases: j.aliases ?? [], HostLink: `bv${eid.slice(0, 12)}`, Ports: this.resolvePorts(j.ports ?? []),
    };
    n.Endpoints[j.containerId] = e;
    try {
      runLinks(endpointPlan({
        bridge: n.Bridge, hostLink: e.HostLink, mtu: n.Mtu, netns: j.netns, ifname: j.ifname, mac: e.MacAddress,
        addresses: [e.IPv4Address, ...(ip6 ? [ip6] : [])], gateways: j.defaultRoute && !n.Internal ? [v4.Gateway, ...(v6 ? [v6.Gateway] : [])] : [],
      }));
      this.syncFirewall();
      const plan = proxyPlan(e, !!this.o.portsObeyInput);
      if (plan.length) e.ProxyPid = startProxy(j.pid, plan);
      this.files.saveEndpoints(n);
      this.fast.add(n, e);
    } catch (err) {
      this.endProxy(e);
      delete n.Endpoints[j.containerId];
      try { runLinks([{ op: 'del', name: e.HostLink }]); } catch { /* gone */ }
      try { this.syncFirewall(); } catch { /* the old table stays */ }
      throw err instanceof ProxyError ? new PortAllocated(`driver failed programming external connectivity on endpoint ${j.name}: ${err.message}`) : err;
    }
    if (hasDns(n)) this.attachDns(j.containerId, j.pid);
    this.o.publish('connect', n, { container: j.containerId });
    return e;
  }

  /** An address of the config's subnet ("ADDR/BITS"): the one asked for (checked), or the first free one. */
  private lease(n: NetworkRecord, c: IpamConfig, asked: string | undefined, field: 'IPv4Address' | 'IPv6Address'): string {
    const subnet = parseSubnet(c.Subnet, 'Subnet');
    const mine = (e: EndpointRecord) => e[field].split('/')[0];
    const used = new Set([parseIp(c.Gateway, 'Gateway').value, ...Object.values(n.Endpoints).filter(mine).map((e) => parseIp(mine(e)!, field).value)]);
    const cidr = (ip: bigint) => `${formatIp(subnet.family, ip)}/${subnet.bits}`;
    if (asked) {
      if (n.Name === 'bridge') throw new InvalidInput(`IPAMConfig.${field}`, 'user specified IP address is supported only with user-defined networks');
      const a = parseIp(asked, `IPAMConfig.${field}`);
      if (!contains(subnet, a.family, a.value)) throw new InvalidInput(`IPAMConfig.${field}`, `no available IP: ${asked} is outside ${c.Subnet}`);
      if (used.has(a.value)) throw new Conflict(`IPAMConfig.${field}`, `Address already in use: ${asked}`);
      return cidr(a.value);
    }
    const ip = nextFree(subnet, c.IPRange ? parseSubnet(c.IPRange, 'IPRange') : subnet, used);
    if (ip === undefined) throw new Conflict('network', `no available IPv${subnet.family} addresses on this network's address pools: ${n.Name} (${n.Id})`);
    return cidr(ip);
  }

  /**
   * Host ports for the requests: the ones asked for (free of berth's and the
   * host's), or free ones from the kernel's ephemeral range. No host address
   * is every address: 0.0.0.0 and, on a host with IPv6, :: beside it (as
   * docker binds both).
   */
  private resolvePorts(asked: PortRequest[]): PortMapping[] {
    const mine = [...this.nets.values()].flatMap((n) => Object.values(n.Endpoints).flatMap((e) => e.Ports));
    const out: PortMapping[] = [];
    const clash = (a: PortMapping, b: PortMapping) => a.proto === b.proto && a.hostPort === b.hostPort && a.hostIp.includes(':') === b.hostIp.includes(':') &&
      (a.hostIp === b.hostIp || [a.hostIp, b.hostIp].some((ip) => ip === '0.0.0.0' || ip === '::'));
    const ipv6 = hostHasIpv6();
    for (const a of asked) {
      const hostIps = a.hostIp ? [a.hostIp] : ipv6 ? ['0.0.0.0', '::'] : ['0.0.0.0'];
      const at = (port: number) => hostIps.map((hostIp) => ({ proto: a.proto, hostIp, hostPort: port, containerPort: a.containerPort }));
      if (a.hostPort !== undefined && a.hostPortLast === undefined) {
        const ps = at(a.hostPort);
        const other = ps.find((p) => [...mine, ...out].some((m) => clash(m, p)));
        if (other) throw new PortAllocated(`Bind for ${other.hostIp.includes(':') ? `[${other.hostIp}]` : other.hostIp}:${a.hostPort} failed: port is already allocated`);
        if (portInUse(a.proto, a.hostPort)) throw new PortAllocated(`driver failed programming external connectivity: listen ${a.proto}4 ${hostIps[0]}:${a.hostPort}: bind: address already in use`);
        out.push(...ps);
        continue;
      }
      // a range from its first port; otherwise the kernel's ephemeral range from a random point
      const [low, high] = a.hostPort !== undefined ? [a.hostPort, a.hostPortLast!] : [32768, 60999];
      const span = high - low + 1;
      let found: PortMapping[] | undefined;
      for (let port = a.hostPort ?? low + (randomBytes(2).readUInt16BE() % span), tries = 0; tries < span; tries++, port = port >= high ? low : port + 1) {
        const ps = at(port);
        if (!ps.some((p) => [...mine, ...out].some((m) => clash(m, p))) && !portInUse(a.proto, port)) { found = ps; break; }
      }
      if (!found) throw new PortAllocated(a.hostPort !== undefined ? `Bind for ${hostIps[0]}:${low}-${high} failed: port is already allocated` : 'no host port is free in 32768-60999');
      out.push(...found);
    }
    return out;
  }

  /** Takes a running container off one network: its veth (both ends) goes, its lease and ports are given back. */
  disconnect(ref: string, containerId: string): void {
    const n = this.get(ref);
    const e = n.Endpoints[containerId];
    if (!e) return;
    this.endProxy(e);
    this.fast.remove(n, e);
    runLinks([{ op: 'del', name: e.HostLink }]);
    delete n.Endpoints[containerId];
    this.files.saveEndpoints(n);
    this.syncFirewall();
    if (!this.namedNetworksOf(containerId).length) this.dns.detach(containerId);
    this.o.publish('disconnect', n, { container: containerId });
  }

  /**
   * A container ended: its endpoints and ports are given back. Its veth goes
   * with its namespace, which the kernel tears down a little later; deleting
   * it here would wait for that (about 10 ms of RCU grace per link) on the
   * exit path. A link still there a while later (its namespace held open) is
   * deleted then.
   */
  release(containerId: string): void {
    this.dns.detach(containerId);
    let changed = false;
    for (const n of this.nets.values()) {
      const e = n.Endpoints[containerId];
      if (!e) continue;
      this.fast.remove(n, e);
      delete n.Endpoints[containerId];
      this.endProxy(e);
      this.lingering.add(e.HostLink);
      this.files.saveEndpoints(n);
      this.o.publish('disconnect', n, { container: containerId });
      changed = true;
    }
    if (!changed) return;
    this.syncFirewall();
    this.sweepLater();
  }

  /** host veths of ended containers, deleted if still there at the next sweep */
  private readonly lingering = new Set<string>();
  /** ended forwarders of this berthd, collected at a sweep */
  private readonly proxies = new Set<number>();
  private sweep: NodeJS.Timeout | undefined;

  private sweepLater(): void { this.sweep ??= setTimeout(() => this.sweepEnded(), 2000).unref(); }

  private endProxy(e: EndpointRecord): void {
    if (!e.ProxyPid) return;
    stopProxy(e.ProxyPid);
    this.proxies.add(e.ProxyPid);
    e.ProxyPid = undefined;
    this.sweepLater();
  }

  /** Collects ended forwarders (again later for those not yet ended) and deletes the veths their namespaces left. */
  private sweepEnded(): void {
    this.sweep = undefined;
    for (const pid of this.proxies) if (reapProxy(pid)) this.proxies.delete(pid);
    if (this.proxies.size) this.sweepLater();
    const links = linkNames();
    const left = [...this.lingering].filter((l) => links.has(l));
    this.lingering.clear();
    if (left.length) { try { runLinks(left.map((name): LinkOp => ({ op: 'del', name }))); } catch (e) { process.stderr.write(`berthd: ${(e as Error).message}\n`); } }
  }

  /** The networks a container is on now, by name. */
  endpointsOf(containerId: string): { network: NetworkRecord; endpoint: EndpointRecord }[] {
    return this.list().flatMap((n) => (n.Endpoints[containerId] ? [{ network: n, endpoint: n.Endpoints[containerId]! }] : []));
  }

  /** The table as berthd last wrote it: a change that leaves the rules as they are (a container without ports) costs no nft. */
  private applied: string | undefined;

  private syncFirewall(): void {
    // a bridge that exists keeps its rules (masquerade, isolation) whether or not a container is on it now:
    // a run --rm then costs no nft at its start or end; the table goes when no berth bridge is left
    const links = linkNames();
    const bridged = [...this.nets.values()].filter((n) => n.Bridge && links.has(n.Bridge));
    const text = ruleset(this.o.table, bridged, !!this.o.portsObeyInput);
    if (text === this.applied) return;
    this.applied = undefined; // unknown until nft has taken it
    applyRuleset(this.o.table, text);
    this.applied = text;
    const bridges = bridged.map((n) => n.Bridge).sort();
    if (bridges.join() !== this.dockerUserFor) {
      syncDockerUser(this.o.table, bridges);
      this.dockerUserFor = bridges.join();
    }
  }

  /** the bridges berth's DOCKER-USER rules were last made for (docker-user.ts) */
  private dockerUserFor: string | undefined;
}

/** A host port that cannot be had (docker's 500 at start). */
export class PortAllocated extends Error {}

/** User-defined bridges resolve their containers' names; the default bridge does not (docker's rule). */
const hasDns = (n: NetworkRecord) => !!n.Bridge && n.Name !== 'bridge';

function gatewayCidrs(n: NetworkRecord): string[] {
  return n.IPAM.Config.map((c) => `${c.Gateway}/${c.Subnet.split('/')[1]}`);
}

/** docker's MAC for an IPv4 address: 02:42 and the address's four bytes. */
function macOf(ip: bigint): string {
  const b = [2, 0x42, ...[24n, 16n, 8n, 0n].map((s) => Number((ip >> s) & 255n))];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function predefined(name: string, defaultBridge: string, taken: Subnet[]): NetworkRecord {
  const id = createHash('sha256').update(`berth-network-${name}-${randomBytes(8).toString('hex')}`).digest('hex');
  const base = {
    Name: name, Id: id, Created: new Date().toISOString(), Scope: 'local' as const, EnableIPv6: false, Internal: false, Attachable: false, Ingress: false as const,
    ConfigFrom: { Network: '' }, ConfigOnly: false as const, Labels: {}, Endpoints: {}, Mtu: 0,
  };
  if (name !== 'bridge') return { ...base, Driver: name === 'host' ? 'host' : 'null', IPAM: { Driver: 'default', Options: {}, Config: [] }, Options: {}, Bridge: '' };
  const s = pickSubnet(taken);
  return {
    ...base, Driver: 'bridge', Bridge: defaultBridge,
    IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: formatSubnet(s), Gateway: formatIp(4, s.base + 1n) }] },
    Options: {
      'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.enable_icc': 'true', 'com.docker.network.bridge.enable_ip_masquerade': 'true',
      'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0', [NAME_OPT]: defaultBridge, [MTU_OPT]: '1500',
    },
  };
}

