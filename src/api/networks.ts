// The network endpoints (list, inspect, create, remove, prune, connect and
// disconnect) and what a container shows of its networks (inspect's
// NetworkSettings, the list's Ports), as dockerd shows them.
import type { Engine, ContainerRecord } from '../engine/index.js';
import { ipv4Config, ipv6Config, type EndpointRecord, type NetworkRecord } from '../network/index.js';
import { InvalidInput } from '../util/check.js';
import { emptyOk, filtersOf, type Router } from './server.js';

/** A network as GET /networks/{id} gives it: the record without berth's own fields, its containers by ID. */
export function networkView(n: NetworkRecord, withContainers = true) {
  const { Bridge: _b, Mtu: _m, Endpoints, ...shown } = n;
  const Containers = Object.fromEntries(Object.values(Endpoints).map((e) => [e.ContainerID, {
    Name: e.Name, EndpointID: e.EndpointID, MacAddress: e.MacAddress, IPv4Address: e.IPv4Address, IPv6Address: e.IPv6Address,
  }]));
  return { ...shown, Containers: withContainers ? Containers : {} };
}

function matchesFilters(n: NetworkRecord, f: Record<string, string[]>): boolean {
  const predefined = ['bridge', 'host', 'none'].includes(n.Name);
  const tests: Record<string, (v: string) => boolean> = {
    name: (v) => n.Name.includes(v), id: (v) => n.Id.startsWith(v), driver: (v) => n.Driver === v, scope: (v) => v === 'local',
    type: (v) => (v === 'builtin' ? predefined : v === 'custom' ? !predefined : false),
    label: (v) => { const [k, val] = v.split('='); return k! in n.Labels && (val === undefined || n.Labels[k!] === val); },
    dangling: (v) => (v === 'true' || v === '1') === (!predefined && !Object.keys(n.Endpoints).length),
  };
  for (const [k, vals] of Object.entries(f)) {
    const t = tests[k];
    if (!t) throw new InvalidInput('filters', `invalid filter '${k}'`);
    if (vals.length && !vals[k === 'label' ? 'every' : 'some'](t)) return false;
  }
  return true;
}

export function networkRoutes(r: Router, engine: () => Engine): void {
  const nets = () => engine().networks;
  r.add('GET', '/networks', (req) => {
    const f = filtersOf(req);
    return nets().list().filter((n) => matchesFilters(n, f)).map((n) => networkView(n, false));
  });
  r.add('GET', '/networks/{id}', (req) => networkView(nets().get(req.params.id!)));
  r.add('POST', '/networks/create', async (req, res) => {
    const out = nets().create((await req.json()) as Record<string, unknown>);
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify(out));
  });
  r.add('DELETE', '/networks/{id}', (req) => { nets().remove(req.params.id!); });
  r.add('POST', '/networks/prune', (req) => {
    const f = filtersOf(req);
    const labels = f.label ?? [];
    const gone = nets().prune((n) => !labels.every((l) => { const [k, v] = l.split('='); return k! in n.Labels && (v === undefined || n.Labels[k!] === v); }));
    engine().publish('network', 'prune', '', { reclaimed: '0' });
    return { NetworksDeleted: gone };
  });
  for (const verb of ['connect', 'disconnect'] as const) {
    r.add('POST', `/networks/{id}/${verb}`, async (req, res) => {
      const b = (await req.json()) as { Container?: string; EndpointConfig?: Record<string, unknown>; Force?: boolean };
      if (!b.Container) throw new InvalidInput('Container', 'is required');
      const e = engine();
      if (verb === 'connect') await e.connectNetwork(req.params.id!, b.Container, (b.EndpointConfig ?? {}) as never);
      else await e.disconnectNetwork(req.params.id!, b.Container, !!b.Force);
      emptyOk(res);
    });
  }
}

/** inspect's NetworkSettings: the endpoints of a running container (or the networks it will join), its ports. */
export function networkSettings(e: Engine, r: ContainerRecord) {
  const view = e.networkView(r);
  const first = view.find((v) => v.endpoint)?.endpoint;
  const Networks: Record<string, unknown> = {};
  const mode = r.HostConfig.NetworkMode ?? 'none';
  if (mode === 'host' || mode === 'none') Networks[mode] = endpointView(undefined, undefined, r);
  for (const v of view) Networks[v.network.Name] = endpointView(v.network, v.endpoint, r);
  const Ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const p of Object.keys(r.Config.ExposedPorts ?? {})) Ports[p] = null;
  // a container's ports, whichever of its endpoints published them (it may join another network first)
  for (const p of view.flatMap((v) => v.endpoint?.Ports ?? [])) {
    const key = `${p.containerPort}/${p.proto}`;
    (Ports[key] ??= []).push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  }
  const firstNet = first ? view.find((v) => v.endpoint === first)!.network : undefined;
  const a = addresses(firstNet, first);
  return {
    Bridge: '', SandboxID: '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0, Ports,
    SandboxKey: r.State.Running && r.State.Pid ? `/proc/${r.State.Pid}/ns/net` : '', SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
    EndpointID: first?.EndpointID ?? '', ...a, MacAddress: first?.MacAddress ?? '', Networks,
  };
}

function endpointView(n: NetworkRecord | undefined, ep: EndpointRecord | undefined, r: ContainerRecord) {
  const cfg = n ? r.Networks?.[n.Name] : undefined;
  const custom = n && !['bridge', 'host', 'none'].includes(n.Name);
  return {
    IPAMConfig: cfg?.IPAMConfig ?? null, Links: null, Aliases: cfg?.Aliases?.length ? cfg.Aliases : null, MacAddress: ep?.MacAddress ?? '', DriverOpts: null,
    NetworkID: n?.Id ?? '', EndpointID: ep?.EndpointID ?? '', ...addresses(n, ep),
    DNSNames: ep && custom ? [r.Name.slice(1), r.Id.slice(0, 12), ...(cfg?.Aliases ?? [])] : null,
  };
}

/** An endpoint's addresses and gateways as docker's fields name them ('' and 0 when it has none). */
function addresses(n: NetworkRecord | undefined, ep: EndpointRecord | undefined) {
  const [ip, bits] = (ep?.IPv4Address ?? '').split('/'), [ip6, bits6] = (ep?.IPv6Address ?? '').split('/');
  return {
    Gateway: ep && n ? ipv4Config(n)?.Gateway ?? '' : '', IPAddress: ip ?? '', IPPrefixLen: bits ? Number(bits) : 0,
    IPv6Gateway: ep?.IPv6Address && n ? ipv6Config(n)?.Gateway ?? '' : '', GlobalIPv6Address: ip6 ?? '', GlobalIPv6PrefixLen: bits6 ? Number(bits6) : 0,
  };
}

/** The list's Ports ([{IP, PrivatePort, PublicPort, Type}]) and NetworkSettings.Networks. */
export function summaryNetworks(e: Engine, r: ContainerRecord) {
  const view = e.networkView(r);
  const ports = view.flatMap((v) => v.endpoint?.Ports ?? []).map((p) => ({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.proto }));
  const exposed = Object.keys(r.Config.ExposedPorts ?? {}).map((k) => { const [port, proto] = k.split('/'); return { PrivatePort: Number(port), Type: proto ?? 'tcp' }; })
    .filter((x) => !ports.some((p) => p.PrivatePort === x.PrivatePort && p.Type === x.Type));
  const Networks = Object.fromEntries(view.map((v) => [v.network.Name, endpointView(v.network, v.endpoint, r)]));
  return { Ports: [...ports, ...exposed], NetworkSettings: { Networks } };
}

