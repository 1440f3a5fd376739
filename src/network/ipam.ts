// Addresses: subnets and IPs as numbers (v4 and v6), docker's default
// address pools, the host's own routes (a new network's subnet must not
// overlap them), and leases inside a subnet. Pure data, but for the routes
// read from /proc.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidInput } from '../util/check.js';

export interface Subnet { family: 4 | 6; base: bigint; bits: number }

const width = (f: 4 | 6) => (f === 4 ? 32 : 128);

export function parseIp(text: string, field: string): { family: 4 | 6; value: bigint } {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split('.').map(Number);
    if (parts.some((p) => p > 255)) throw new InvalidInput(field, `invalid IP address: ${text}`);
    return { family: 4, value: parts.reduce((n, p) => (n << 8n) | BigInt(p), 0n) };
  }
  if (text.includes(':') && /^[0-9a-fA-F:]+$/.test(text)) {
    const [head, tail, extra] = text.split('::');
    if (extra !== undefined) throw new InvalidInput(field, `invalid IP address: ${text}`);
    const h = head ? head.split(':') : [], t = tail ? tail.split(':') : [];
    const missing = 8 - h.length - t.length;
    if ((tail === undefined && missing !== 0) || missing < 0 || [...h, ...t].some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) throw new InvalidInput(field, `invalid IP address: ${text}`);
    const groups = [...h, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...t];
    return { family: 6, value: groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n) };
  }
  throw new InvalidInput(field, `invalid IP address: ${text}`);
}

export function formatIp(family: 4 | 6, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((v >> BigInt((7 - i) * 16)) & 0xffffn).toString(16));
  // the longest run of zero groups (two or more) becomes "::"
  let best = -1, len = 0;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > len && j - i > 1) { best = i; len = j - i; }
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + len).join(':')}`;
}

/** "A.B.C.D/N" as docker takes it: the address must be the subnet's own (no host bits). */
export function parseSubnet(text: string, field: string): Subnet {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) throw new InvalidInput(field, `invalid subnet ${text}: it must be ADDRESS/PREFIX`);
  const ip = parseIp(m[1]!, field);
  const bits = Number(m[2]);
  if (bits > width(ip.family)) throw new InvalidInput(field, `invalid subnet ${text}: the prefix is longer than the address`);
  const s: Subnet = { family: ip.family, base: ip.value & mask(ip.family, bits), bits };
  if (s.base !== ip.value) throw new InvalidInput(field, `invalid subnet ${text} : it should be ${formatSubnet(s)}`);
  return s;
}

export const formatSubnet = (s: Subnet) => `${formatIp(s.family, s.base)}/${s.bits}`;
const mask = (f: 4 | 6, bits: number) => ((1n << BigInt(width(f))) - 1n) ^ ((1n << BigInt(width(f) - bits)) - 1n);
export const size = (s: Subnet) => 1n << BigInt(width(s.family) - s.bits);
export const contains = (s: Subnet, family: 4 | 6, ip: bigint) => family === s.family && ip >= s.base && ip < s.base + size(s);
export const within = (inner: Subnet, outer: Subnet) => inner.family === outer.family && inner.base >= outer.base && inner.base + size(inner) <= outer.base + size(outer);
export const overlaps = (a: Subnet, b: Subnet) => a.family === b.family && a.base < b.base + size(b) && b.base < a.base + size(a);

/** docker's default address pools: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s. */
export function* defaultPools(): Generator<Subnet> {
  for (let i = 17; i <= 31; i++) yield { family: 4, base: (172n << 24n) | (BigInt(i) << 16n), bits: 16 };
  for (let i = 0; i < 16; i++) yield { family: 4, base: (192n << 24n) | (168n << 16n) | (BigInt(i * 16) << 8n), bits: 20 };
}

/** The host's IPv4 routes other than the default, from /proc/net/route: a network must not shadow them (nor IPv6 ones, below). */
export function hostRoutes(text = safeRead('/proc/net/route')): Subnet[] {
  const out: Subnet[] = [];
  for (const l of text.split('\n').slice(1)) {
    const f = l.trim().split(/\s+/);
    if (f.length < 8) continue;
    const le = (h: string) => BigInt(`0x${h.match(/../g)!.reverse().join('')}`);
    const dest = le(f[1]!), m = le(f[7]!);
    if (m === 0n) continue;
    const bits = m.toString(2).replace(/0+$/, '').length;
    out.push({ family: 4, base: dest, bits });
  }
  return out;
}

/** The host's IPv6 routes other than the default, from /proc/net/ipv6_route (every table: its own addresses too). */
export function hostRoutes6(text = safeRead('/proc/net/ipv6_route')): Subnet[] {
  const out: Subnet[] = [];
  for (const l of text.split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f.length < 10 || !/^[0-9a-f]{32}$/.test(f[0]!)) continue;
    const bits = parseInt(f[1]!, 16);
    if (bits > 0) out.push({ family: 6, base: BigInt(`0x${f[0]}`), bits });
  }
  return out;
}

/** Whether this host has IPv6 (a kernel with it, and ::1 on its loopback). */
export const hostHasIpv6 = (text = safeRead('/proc/net/if_inet6')): boolean => text.includes('00000000000000000000000000000001');

function safeRead(p: string): string { try { return readFileSync(p, 'utf8'); } catch { return ''; } }

/** The first default pool that overlaps none of `taken`. */
export function pickSubnet(taken: Subnet[]): Subnet {
  for (const s of defaultPools()) if (!taken.some((t) => overlaps(s, t))) return s;
  throw new InvalidInput('IPAM', 'could not find an available, non-overlapping IPv4 address pool among the defaults for the local address space');
}

/** IPv6 with no subnet given: a /64 of a random unique local /48 (fdXX:XXXX:XXXX::/48, RFC 4193), as docker's default IPv6 pool. */
export function ulaSubnet(random = randomBytes(5)): Subnet {
  const global = BigInt(`0x${random.toString('hex')}`);
  return { family: 6, base: ((0xfdn << 40n) | global) << 80n, bits: 64 };
}

/** The first free address of `range` (inside `subnet`) that is not its network, broadcast or `used`. */
export function nextFree(subnet: Subnet, range: Subnet, used: Set<bigint>): bigint | undefined {
  const last = subnet.base + size(subnet) - 1n;
  for (let ip = range.base; ip < range.base + size(range); ip++) {
    if (ip === subnet.base || (subnet.family === 4 && ip === last) || used.has(ip)) continue;
    return ip;
  }
  return undefined;
}
