// Links as a plan (data): a network's bridge, a container's veth pair and
// its addresses and routes. The network executor (native/net, a call of
// berthd's addon) carries a plan out over rtnetlink; tests read the plans
// without root.
import { readFileSync } from 'node:fs';
import { fsx } from '../util/fsx.js';

export type LinkOp =
  | { op: 'netns'; path: string }
  | { op: 'bridge'; name: string; mtu: number }
  | { op: 'veth'; name: string; peer: string; mtu: number; peerNs: string }
  | { op: 'master'; name: string; bridge: string }
  | { op: 'hairpin'; name: string }
  | { op: 'mac'; name: string; mac: string }
  | { op: 'rename'; name: string; to: string }
  | { op: 'up'; name: string }
  | { op: 'addr'; name: string; cidr: string }
  | { op: 'route'; dest: string; gateway: string }
  | { op: 'del'; name: string }
  | { op: 'sysctl'; path: string; value: string };

/**
 * A bridge with its gateway addresses, up; loopback traffic may be DNATed
 * onto it (route_localnet). The host forwards IPv4, as docker makes it do,
 * so that traffic out of the network is routed.
 */
export function bridgePlan(name: string, mtu: number, gateways: string[]): LinkOp[] {
  return [
    { op: 'sysctl', path: 'net/ipv4/ip_forward', value: '1' },
    // and IPv6, for a network that has it (docker does the same; the host then no longer takes router advertisements on interfaces with accept_ra=1)
    ...(gateways.some((g) => g.includes(':')) ? [{ op: 'sysctl', path: 'net/ipv6/conf/all/forwarding', value: '1' } as LinkOp] : []),
    { op: 'bridge', name, mtu },
    ...gateways.map((cidr): LinkOp => ({ op: 'addr', name, cidr })),
    { op: 'sysctl', path: `net/ipv4/conf/${name}/route_localnet`, value: '1' },
    { op: 'up', name },
  ];
}

export interface EndpointLinks {
  bridge: string; hostLink: string; mtu: number; netns: string;
  /** the name inside (eth0, eth1, ...) */
  ifname: string; mac: string; addresses: string[];
  /** the default routes' gateways (none on an internal network, or when another network has the default route) */
  gateways: string[];
}

/** The container's end is made in its namespace under a temporary name, then named, addressed and routed there. */
export function endpointPlan(e: EndpointLinks): LinkOp[] {
  const tmp = `${e.hostLink}p`;
  return [
    { op: 'veth', name: e.hostLink, peer: tmp, mtu: e.mtu, peerNs: e.netns },
    { op: 'master', name: e.hostLink, bridge: e.bridge },
    // a container reaches its own published port at a host address: with br_netfilter the DNATed frame goes back out its port
    { op: 'hairpin', name: e.hostLink },
    { op: 'up', name: e.hostLink },
    { op: 'netns', path: e.netns },
    // the executor may still be setting the container up: its resolver binds 127.0.0.11 once this returns
    { op: 'up', name: 'lo' },
    { op: 'rename', name: tmp, to: e.ifname },
    { op: 'mac', name: e.ifname, mac: e.mac },
    ...e.addresses.map((cidr): LinkOp => ({ op: 'addr', name: e.ifname, cidr })),
    { op: 'up', name: e.ifname },
    ...e.gateways.map((g): LinkOp => ({ op: 'route', dest: g.includes(':') ? '::/0' : '0.0.0.0/0', gateway: g })),
    { op: 'netns', path: 'host' },
  ];
}

/** The plan as the executor reads it: one op a line. */
export function planText(ops: LinkOp[]): string {
  return ops.map((o) => {
    switch (o.op) {
      case 'netns': return `netns ${o.path}`;
      case 'bridge': return `bridge ${o.name} ${o.mtu}`;
      case 'veth': return `veth ${o.name} ${o.peer} ${o.mtu} ${o.peerNs}`;
      case 'master': return `master ${o.name} ${o.bridge}`;
      case 'hairpin': return `hairpin ${o.name}`;
      case 'mac': return `mac ${o.name} ${o.mac}`;
      case 'rename': return `rename ${o.name} ${o.to}`;
      case 'up': return `up ${o.name}`;
      case 'addr': return `addr ${o.name} ${o.cidr}`;
      case 'route': return `route ${o.dest} ${o.gateway}`;
      case 'del': return `del ${o.name}`;
      case 'sysctl': return `sysctl ${o.path} ${o.value}`;
    }
  }).join('\n') + '\n';
}

export class LinkError extends Error {}

/** Carries the plan out; throws the executor's words on the first op that fails (the ops before it stay done). */
export function runLinks(ops: LinkOp[]): void {
  if (!ops.length) return;
  try { fsx().netPlan(planText(ops)); } catch (e) { throw new LinkError(`network: ${(e as Error).message}`); }
}

/**
 * Does a link of this name exist in berthd's network namespace? Read from
 * /proc/net/dev, which is the reader's namespace's; /sys/class/net is the
 * namespace's that mounted /sys (the host's, for a berthd in a namespace of its own).
 */
export function linkNames(): Set<string> {
  let text = '';
  try { text = readFileSync('/proc/net/dev', 'utf8'); } catch { return new Set(); }
  return new Set(text.split('\n').slice(2).map((l) => l.trim().split(':')[0]!).filter(Boolean));
}

export const linkExists = (name: string): boolean => linkNames().has(name);
