// A container's networks: joined between the runtime's create and start
// (eth0 on the first, with the default route and the published ports),
// given back when it ends, connected and disconnected on request, and what
// inspect shows of them. The links and rules are src/network's.
import { Forbidden } from '../util/check.js';
import { parsePortBindings, type EndpointRecord, type NetworkRecord, type Networks, type PortRequest } from '../network/index.js';
import { appendHosts, etcPaths, useNameserver } from './container-root.js';
import type { ContainerRecord, ContainerStore, EndpointSettings } from './records.js';

/** What the engine lends this module. */
export interface NetworkingHost {
  store: ContainerStore;
  networks(): Networks;
  /** whether the container's /etc files are its own (not a container:NAME owner's) */
  ownEtc(r: ContainerRecord): boolean;
}

export class ContainerNetworks {
  constructor(private readonly host: NetworkingHost) {}

  /**
   * Joins the created (not yet started) container to its networks, in
   * order: the first gets eth0, the default route and the published ports.
   * Its /etc/hosts then names it by its addresses, as docker's does.
   */
  join(r: ContainerRecord, pid: number): void {
    const nets = Object.entries(r.Networks ?? legacyNetworks(r));
    if (!nets.length) return;
    const ports = parsePortBindings(r.HostConfig.PortBindings as never, r.Config.ExposedPorts ?? undefined, !!r.HostConfig.PublishAllPorts);
    const made = nets.map(([name, cfg], i) => this.joinOne(r, pid, name, cfg, i, i === 0 ? ports : undefined));
    if (!this.host.ownEtc(r)) return;
    const etc = etcPaths(this.host.store.dir(r.Id));
    appendHosts(etc.hosts, [...made.flatMap((e) => hostsLines(r, e)), ...this.linkLines(r)]);
    // on a user-defined network the network's own resolver answers (names there, the host's resolvers for the rest), unless --dns names others
    const resolver = this.host.networks().resolverOf(nets[0]![0]);
    if (resolver && !r.HostConfig.Dns?.length) useNameserver(etc.resolvConf, resolver);
  }

  /**
   * join, as soon as the container's new network namespace exists (`at`,
   * called while the executor still mounts), or at `finish` when no such
   * report came; `finish` throws what the join threw.
   */
  joinEarly(r: ContainerRecord): { at: (pid: number) => void; finish: (pid: number) => void } {
    let done = false, failed: { e: unknown } | undefined;
    const once = (pid: number) => { if (!done) { done = true; try { this.join(r, pid); } catch (e) { failed = { e }; } } };
    return { at: once, finish: (pid) => { once(pid); if (failed) throw failed.e; } };
  }

  /**
   * One network for the container whose init is `pid`, as its `eth${index}`.
   * `ports` (the published ones) make it the container's first network: it
   * gets the default route and the container's own --mac-address.
   */
  private joinOne(r: ContainerRecord, pid: number, name: string, cfg: EndpointSettings, index: number, ports?: PortRequest[]): EndpointRecord {
    const first = ports !== undefined;
    return this.host.networks().connect(name, {
      containerId: r.Id, name: r.Name.slice(1), pid, netns: `/proc/${pid}/ns/net`, ifname: `eth${index}`,
      aliases: cfg.Aliases ?? [], ip: cfg.IPAMConfig?.IPv4Address || undefined, ip6: cfg.IPAMConfig?.IPv6Address || undefined, mac: cfg.MacAddress || (first ? r.Config.MacAddress : undefined) || undefined,
      ports: ports ?? [], defaultRoute: first,
    });
  }

  /** Legacy --link NAME[:ALIAS]: the linked container's address under its alias, ID and name, as docker writes them. */
  private linkLines(r: ContainerRecord): string[] {
    return (r.HostConfig.Links ?? []).flatMap((l) => {
      const [name, alias] = l.replace(/^\//, '').split(':') as [string, string?];
      let target: ContainerRecord;
      try { target = this.host.store.get(name); } catch { return []; }
      const ep = this.host.networks().endpointsOf(target.Id)[0]?.endpoint;
      if (!ep) return [];
      const names = [...new Set([(alias ?? name).replace(/^.*\//, ''), target.Id.slice(0, 12), target.Name.slice(1)])];
      return [`${ep.IPv4Address.split('/')[0]}\t${names.join(' ')}`];
    });
  }

  /** `network connect`: the container joins the network now if it runs, and at every start. */
  connect(netRef: string, r: ContainerRecord, cfg: EndpointSettings): Promise<void> {
    const n = this.host.networks().get(netRef);
    return this.host.store.serial(r.Id, async () => {
      const mode = r.HostConfig.NetworkMode ?? 'none';
      if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) throw new Forbidden('container', `container sharing network namespace with another container or host cannot be connected to any other network (${mode})`);
      if (!n.Bridge) throw new Forbidden('network', `container cannot be connected to the ${n.Name} network`);
      const nets = r.Networks ?? legacyNetworks(r);
      if (nets[n.Name]) throw new Forbidden('network', `endpoint with name ${r.Name.slice(1)} already exists in network ${n.Name}`);
      const settings = { Aliases: cfg.Aliases ?? [], IPAMConfig: cfg.IPAMConfig ?? null, MacAddress: cfg.MacAddress ?? '' };
      if (r.State.Running) {
        const e = this.joinOne(r, r.State.Pid, n.Name, settings, Object.keys(nets).length);
        if (this.host.ownEtc(r)) appendHosts(etcPaths(this.host.store.dir(r.Id)).hosts, hostsLines(r, e));
      }
      r.Networks = { ...nets, [n.Name]: settings };
      await this.host.store.save(r);
    });
  }

  /** `network disconnect`: off the network now if it runs, and from now on. */
  disconnect(netRef: string, r: ContainerRecord): Promise<void> {
    const n = this.host.networks().get(netRef);
    return this.host.store.serial(r.Id, async () => {
      const nets = r.Networks ?? legacyNetworks(r);
      if (!nets[n.Name]) throw new Forbidden('container', `container ${r.Id} is not connected to network ${n.Name}`);
      if (r.State.Running) this.host.networks().disconnect(n.Name, r.Id);
      const { [n.Name]: _gone, ...rest } = nets;
      r.Networks = rest;
      await this.host.store.save(r);
    });
  }

  release(r: ContainerRecord): void {
    try { this.host.networks().release(r.Id); } catch (e) { process.stderr.write(`berthd: releasing the networks of ${r.Id}: ${(e as Error).message}\n`); }
  }

  /** What inspect shows of a container's networks: its endpoints while it runs, the networks it will join while it does not. */
  view(r: ContainerRecord): { network: NetworkRecord; endpoint?: EndpointRecord }[] {
    const live = this.host.networks().endpointsOf(r.Id);
    if (live.length) return live;
    return Object.keys(r.Networks ?? legacyNetworks(r)).flatMap((name) => { try { return [{ network: this.host.networks().get(name) }]; } catch { return []; } });
  }
}

/** A record from before networks: its mode names the one network it joins (none for none, host and container:NAME). */
function legacyNetworks(r: ContainerRecord): Record<string, { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null; MacAddress?: string }> {
  const m = r.HostConfig.NetworkMode ?? 'none';
  return m === 'none' || m === 'host' || m.startsWith('container:') || m === 'default' ? {} : { [m]: {} };
}

/** The /etc/hosts lines that name the container by its addresses on a network (IPv4, and IPv6 when it has one). */
const hostsLines = (r: ContainerRecord, e: EndpointRecord) => [e.IPv4Address, e.IPv6Address].filter(Boolean).map((a) => `${a.split('/')[0]}\t${r.Config.Hostname}`);
