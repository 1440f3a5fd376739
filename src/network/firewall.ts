// berth's firewall: one nftables table of its own, written whole from the
// networks and their endpoints and swapped in by one `nft -f` transaction.
// Published ports are DNAT in the kernel (no userland proxy); traffic out of
// a network is masqueraded unless it is internal; networks are isolated from
// each other. Rules berth did not write are never touched.
import { spawnSync } from 'node:child_process';
import type { NetworkRecord } from './records.js';

const q = (s: string) => JSON.stringify(s);

/** The table's text for these networks (those whose bridge exists); '' when there is none (the table is then removed). */
export function ruleset(table: string, networks: NetworkRecord[]): string {
  const bridged = networks.filter((n) => n.Bridge);
  if (!bridged.length) return '';
  const published: string[] = [], nat: string[] = [], forward: string[] = [];
  const bridges = bridged.map((n) => n.Bridge);
  for (const n of bridged) {
    const v4 = n.IPAM.Config.filter((c) => !c.Subnet.includes(':')).map((c) => c.Subnet);
    const br = q(n.Bridge);
    const others = bridges.filter((b) => b !== n.Bridge);
    if (others.length) forward.push(`iifname ${br} oifname { ${others.map(q).join(', ')} } drop`);
    if (n.Internal) {
      forward.push(`iifname ${br} oifname != ${br} drop`, `oifname ${br} iifname != ${br} drop`);
    } else {
      for (const s of v4) nat.push(`ip saddr ${s} oifname != ${br} masquerade`);
      forward.push(`iifname ${br} accept`, `oifname ${br} ct state established,related accept`, `oifname ${br} ct status dnat accept`);
    }
    // the host's loopback reaches a published port: its source must be one the container can answer
    nat.push(`oifname ${br} ip saddr 127.0.0.0/8 masquerade`);
    // hairpin: a container reaches a published port of its own network
    for (const s of v4) nat.push(`oifname ${br} ip saddr ${s} ct status dnat masquerade`);
    for (const e of Object.values(n.Endpoints)) {
      const ip = e.IPv4Address.split('/')[0];
      if (!ip || n.Internal) continue;
      for (const p of e.Ports) {
        const daddr = p.hostIp && p.hostIp !== '0.0.0.0' && !p.hostIp.includes(':') ? `ip daddr ${p.hostIp} ` : '';
        if (p.hostIp.includes(':') && p.hostIp !== '::') continue; // an IPv6 host address: not for this table
        published.push(`${daddr}${p.proto} dport ${p.hostPort} dnat to ${ip}:${p.containerPort}`);
      }
    }
  }
  const chain = (name: string, head: string, rules: string[]) => `  chain ${name} {\n${head ? `    ${head}\n` : ''}${rules.map((r) => `    ${r}\n`).join('')}  }\n`;
  return `table ip ${table} {\n`
    + chain('published', '', published)
    + chain('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', ['fib daddr type local jump published'])
    + chain('output', 'type nat hook output priority -100; policy accept;', ['fib daddr type local jump published'])
    + chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', nat)
    + chain('forward', 'type filter hook forward priority filter; policy accept;', forward)
    + '}\n';
}

export class FirewallError extends Error {}

/** Replaces berth's table with `text` (or removes it when '') in one transaction. */
export function applyRuleset(table: string, text: string): void {
  const script = `table ip ${table}\ndelete table ip ${table}\n${text}`;
  const r = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8' });
  if (r.error) throw new FirewallError(`nft: ${r.error.message} (berth needs nftables: apt-get install nftables)`);
  if (r.status !== 0) throw new FirewallError(`nft: ${r.stderr.trim()}`);
}
