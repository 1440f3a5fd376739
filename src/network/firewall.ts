// berth's firewall: one nftables table of its own, written whole from the
// networks and their endpoints and swapped in by one `nft -f` transaction.
// Published ports are DNAT in the kernel (no userland proxy); traffic out of
// a network is masqueraded unless it is internal; networks are isolated from
// each other but for published ports. Rules berth did not write are never touched.
import { spawnSync } from 'node:child_process';
import type { EndpointRecord, NetworkRecord } from './records.js';

const q = (s: string) => JSON.stringify(s);

/** The table's text for these networks (those whose bridge exists); '' when there is none (the table is then removed). */
export function ruleset(table: string, networks: NetworkRecord[], obeyInput = false): string {
  const bridged = networks.filter((n) => n.Bridge);
  if (!bridged.length) return '';
  const published: string[] = [], nat: string[] = [], closed: string[] = [], forward: string[] = [];
  const bridges = bridged.map((n) => n.Bridge);
  for (const n of bridged) {
    const subnets = n.IPAM.Config.filter((c) => n.EnableIPv6 || !c.Subnet.includes(':')).map((c) => ({ s: c.Subnet, ip: c.Subnet.includes(':') ? 'ip6' : 'ip' }));
    const br = q(n.Bridge);
    const others = bridges.filter((b) => b !== n.Bridge);
    if (others.length) forward.push(`iifname ${br} oifname { ${others.map(q).join(', ')} } drop`);
    if (n.Internal) {
      closed.push(`iifname ${br} oifname != ${br} drop`, `oifname ${br} iifname != ${br} drop`);
    } else {
      for (const { s, ip } of subnets) nat.push(`${ip} saddr ${s} oifname != ${br} masquerade`);
      forward.push(`iifname ${br} accept`, `oifname ${br} ct state established,related accept`, `oifname ${br} ct status dnat accept`);
    }
    // the host's loopback reaches a published port: its source must be one the container can answer
    nat.push(`oifname ${br} ip saddr 127.0.0.0/8 masquerade`);
    // hairpin: a container reaches a published port of its own network
    for (const { s, ip } of subnets) nat.push(`oifname ${br} ${ip} saddr ${s} ct status dnat masquerade`);
    if (!n.Internal) for (const e of Object.values(n.Endpoints)) published.push(...portRules(e));
  }
  const chain = (name: string, head: string, rules: string[]) => `  chain ${name} {\n${head ? `    ${head}\n` : ''}${rules.map((r) => `    ${r}\n`).join('')}  }\n`;
  return `table inet ${table} {\n`
    + chain('published', '', published)
    // outside traffic to a published port: DNAT before the host's input chain, unless it must pass that chain (then the forwarder takes it)
    + chain('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', obeyInput ? [] : ['fib daddr type local jump published'])
    + chain('output', 'type nat hook output priority -100; policy accept;', ['fib daddr type local jump published'])
    + chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', nat)
    // a published port at a host address answers a container of another network too (docker's proxy serves it), both ways
    + chain('forward', 'type filter hook forward priority filter; policy accept;', [...closed, 'ct status dnat accept', ...forward])
    + '}\n';
}

export class FirewallError extends Error {}

/**
 * An endpoint's published ports as DNAT rules: to its IPv4 address from
 * IPv4 host addresses (0.0.0.0: all), to its IPv6 address, when it has one,
 * from IPv6 host addresses (::: all) but ::1: the kernel does not route IPv6
 * loopback traffic out of lo (no route_localnet for IPv6), so the forwarder
 * (proxy.ts) serves ::1, and IPv6 to a container without IPv6.
 */
function portRules(e: EndpointRecord): string[] {
  const v4 = e.IPv4Address.split('/')[0], v6 = e.IPv6Address.split('/')[0];
  const out: string[] = [];
  for (const p of e.Ports) {
    const h = p.hostIp || '0.0.0.0';
    if (v4 && !h.includes(':')) out.push(`meta nfproto ipv4 ${h === '0.0.0.0' ? '' : `ip daddr ${h} `}${p.proto} dport ${p.hostPort} dnat ip to ${v4}:${p.containerPort}`);
    if (v6 && h.includes(':') && h !== '::1') out.push(`meta nfproto ipv6 ${h === '::' ? 'ip6 daddr != ::1 ' : `ip6 daddr ${h} `}${p.proto} dport ${p.hostPort} dnat ip6 to [${v6}]:${p.containerPort}`);
  }
  return out;
}

/** Replaces berth's table with `text` (or removes it when '') in one transaction; an ip-family table of an older berth goes too. */
export function applyRuleset(table: string, text: string): void {
  const script = `table ip ${table}\ndelete table ip ${table}\ntable inet ${table}\ndelete table inet ${table}\n${text}`;
  const r = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8' });
  if (r.error) throw new FirewallError(`nft: ${r.error.message} (berth needs nftables: apt-get install nftables)`);
  if (r.status !== 0) throw new FirewallError(`nft: ${r.stderr.trim()}`);
}
