// The embedded DNS of user-defined networks: for each container on one,
// berthd answers at 127.0.0.11:53 (UDP and TCP) in the container's own
// network namespace, as docker does, for the names of the containers on its
// networks (name, short ID, aliases, which compose sets to the service
// name); other names go to the host's resolvers (its /etc/resolv.conf, or
// $BERTH_RESOLV_CONF), asked from the host, and their answers come back as
// they are.
import { createSocket, type Socket } from 'node:dgram';
import { closeSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import dnsPacket from 'dns-packet';
import { fsx } from '../util/fsx.js';
import type { EndpointRecord, NetworkRecord } from './records.js';

/** The nameservers of a resolv.conf text. */
export function nameservers(text: string): string[] {
  return text.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[0] === 'nameserver' && f[1]).map((f) => f[1]!);
}

export function hostResolvConf(): string {
  try { return readFileSync(process.env.BERTH_RESOLV_CONF || '/etc/resolv.conf', 'utf8'); } catch { return ''; }
}

/** The endpoints a name means on a network: its containers' names, short IDs and aliases, case aside. */
export function endpointsNamed(n: NetworkRecord, name: string): EndpointRecord[] {
  const want = name.toLowerCase().replace(/\.$/, '');
  return Object.values(n.Endpoints).filter((e) => [e.Name, e.ContainerID.slice(0, 12), ...e.Aliases].some((x) => x.toLowerCase() === want));
}

/** The answer to a query from the names of the networks a container is on, or undefined when the name is none of theirs. */
export function localAnswer(nets: NetworkRecord[], query: Buffer): Buffer | undefined {
  let q: dnsPacket.Packet;
  try { q = dnsPacket.decode(query); } catch { return undefined; }
  const question = q.questions?.[0];
  if (!question) return undefined;
  const named = nets.flatMap((n) => endpointsNamed(n, question.name));
  if (!named.length) return undefined;
  // A and AAAA from the endpoints' addresses; a known name has no record of other types: an empty answer, not NXDOMAIN (as docker's resolver answers)
  const field = question.type === 'A' ? 'IPv4Address' : question.type === 'AAAA' ? 'IPv6Address' : undefined;
  const ips = field ? named.map((e) => e[field].split('/')[0]!).filter(Boolean) : [];
  const answers = ips.map((ip) => ({ type: question.type as 'A' | 'AAAA', name: question.name, ttl: 600, class: 'IN' as const, data: ip }));
  return dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions, answers });
}

/** Where a container's embedded resolver answers, in its own network namespace: docker's address. */
export const RESOLVER_IP = '127.0.0.11';

export class EmbeddedDns {
  private readonly servers = new Map<string, { udp: Socket; tcp: Server }>();

  constructor(private readonly networksOf: (containerId: string) => NetworkRecord[], private readonly log: (msg: string) => void) {}

  /**
   * Answers at 127.0.0.11:53 (UDP and TCP) inside the container's network
   * namespace, as docker's resolver does, until detach: sockets made there
   * by the addon and served here. Queries never cross the bridge, and the
   * host's firewall never sees them.
   */
  attach(containerId: string, pid: number): void {
    if (this.servers.has(containerId)) return;
    const ns = `/proc/${pid}/ns/net`, f = fsx();
    const ufd = f.netSocket(ns, false, RESOLVER_IP, 53);
    let tfd: number;
    try { tfd = f.netSocket(ns, true, RESOLVER_IP, 53); } catch (e) { closeSync(ufd); throw e; }
    const failed = (e: Error) => { this.log(`dns of ${containerId.slice(0, 12)}: ${e.message}`); this.detach(containerId); };
    const udp = createSocket('udp4');
    udp.on('error', failed);
    udp.on('message', (msg, from) => this.answer(containerId, msg, false, (reply) => udp.send(reply, from.port, from.address)));
    udp.bind({ fd: ufd });
    // TCP: a client may send several messages on one connection
    const tcp = createServer((c) => {
      let buf = Buffer.alloc(0);
      c.setTimeout(10_000, () => c.destroy());
      c.on('error', () => c.destroy());
      c.on('data', (b) => {
        let msg;
        for (buf = Buffer.concat([buf, b]); (msg = unframe(buf)); buf = buf.subarray(2 + msg.length)) {
          this.answer(containerId, msg, true, (reply) => { if (!c.destroyed) c.write(framed(reply)); });
        }
      });
    });
    tcp.on('error', failed);
    tcp.listen({ fd: tfd });
    this.servers.set(containerId, { udp, tcp });
  }

  /** From the container's networks' names, or else from upstream, over the transport the query came by. */
  private answer(containerId: string, msg: Buffer, tcp: boolean, reply: (b: Buffer) => void): void {
    const local = localAnswer(this.networksOf(containerId), msg);
    if (local) reply(local);
    else this.forward(msg, tcp, reply);
  }

  detach(containerId: string): void {
    const s = this.servers.get(containerId);
    this.servers.delete(containerId);
    try { s?.udp.close(); } catch { /* closed */ }
    s?.tcp.close();
  }

  stopAll(): void { for (const id of [...this.servers.keys()]) this.detach(id); }

  /** Sends the query to each upstream in turn (2 s each) and relays the first reply; none: SERVFAIL. */
  private forward(query: Buffer, tcp: boolean, reply: (b: Buffer) => void): void {
    const upstreams = nameservers(hostResolvConf());
    const tryNext = (i: number) => {
      if (i >= upstreams.length) { const f = servfail(query); if (f) reply(f); return; }
      (tcp ? askTcp : askUdp)(upstreams[i]!, query, (m) => (m ? reply(m) : tryNext(i + 1)));
    };
    tryNext(0);
  }
}

// DNS over TCP: each message has a two-byte length before it (RFC 1035 4.2.2)
const framed = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m]);
/** The first whole message at the start of `buf`, or undefined while it is still coming. */
const unframe = (buf: Buffer): Buffer | undefined => (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0) ? buf.subarray(2, 2 + buf.readUInt16BE(0)) : undefined);

/** One query to one upstream over UDP: its reply, or undefined after an error or 2 s. */
function askUdp(server: string, query: Buffer, done: (m?: Buffer) => void): void {
  const u = createSocket(server.includes(':') ? 'udp6' : 'udp4');
  const end = (m?: Buffer) => { clearTimeout(timer); try { u.close(); } catch { /* closed */ } done(m); };
  const timer = setTimeout(() => end(), 2000);
  u.on('message', (m) => end(m));
  u.on('error', () => end());
  u.send(query, 53, server);
}

/** The same over TCP (a reply too long for UDP comes whole this way). */
function askTcp(server: string, query: Buffer, done: (m?: Buffer) => void): void {
  let buf = Buffer.alloc(0), over = false;
  const c = connect(53, server);
  const end = (m?: Buffer) => { if (over) return; over = true; c.destroy(); done(m); };
  c.setTimeout(2000, () => end());
  c.on('error', () => end());
  c.on('connect', () => c.write(framed(query)));
  c.on('data', (b) => {
    buf = Buffer.concat([buf, b]);
    const m = unframe(buf);
    if (m) end(m);
  });
  c.on('end', () => end());
}

function servfail(query: Buffer): Buffer | undefined {
  try {
    const q = dnsPacket.decode(query);
    return dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 2, questions: q.questions, answers: [] });
  } catch { return undefined; }
}
