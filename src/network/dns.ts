// The embedded DNS of user-defined networks: berthd answers on each such
// network's gateway address (port 53, UDP and TCP, as podman's aardvark-dns does) for the
// names of the containers on that network (name, short ID, aliases, which
// compose sets to the service name); other names go to the host's resolvers
// (its /etc/resolv.conf, or $BERTH_RESOLV_CONF), and their answers come back
// as they are.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import dnsPacket from 'dns-packet';
import { ipv4Config, type EndpointRecord, type NetworkRecord } from './records.js';

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


/** The answer to a query from what the network knows, or undefined when the name is not one of its own. */
export function localAnswer(n: NetworkRecord, query: Buffer): Buffer | undefined {
  let q: dnsPacket.Packet;
  try { q = dnsPacket.decode(query); } catch { return undefined; }
  const question = q.questions?.[0];
  if (!question) return undefined;
  const named = endpointsNamed(n, question.name);
  if (!named.length) return undefined;
  // A and AAAA from the endpoints' addresses; a known name has no record of other types: an empty answer, not NXDOMAIN (as docker's resolver answers)
  const field = question.type === 'A' ? 'IPv4Address' : question.type === 'AAAA' ? 'IPv6Address' : undefined;
  const ips = field ? named.map((e) => e[field].split('/')[0]!).filter(Boolean) : [];
  const answers = ips.map((ip) => ({ type: question.type as 'A' | 'AAAA', name: question.name, ttl: 600, class: 'IN' as const, data: ip }));
  return dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions, answers });
}

export class EmbeddedDns {
  private readonly servers = new Map<string, { udp: Socket; tcp: Server }>();

  constructor(private readonly network: (id: string) => NetworkRecord | undefined, private readonly log: (msg: string) => void) {}

  /** Answers on the network's gateway (IPv4), over UDP and TCP, until stop. */
  serve(n: NetworkRecord): void {
    const gw = ipv4Config(n)?.Gateway;
    if (!gw || this.servers.has(n.Id)) return;
    const failed = (e: Error) => { this.log(`dns on ${gw}:53 (${n.Name}): ${e.message}`); this.stop(n.Id); };
    const udp = createSocket({ type: 'udp4', reuseAddr: true });
    udp.on('error', failed);
    udp.on('message', (msg, from) => this.answer(n.Id, msg, false, (reply) => udp.send(reply, from.port, from.address)));
    udp.bind(53, gw);
    // TCP: each message has a two-byte length before it (RFC 1035 4.2.2); a client may send several on one connection
    const tcp = createServer((c) => {
      let buf = Buffer.alloc(0);
      c.setTimeout(10_000, () => c.destroy());
      c.on('error', () => c.destroy());
      c.on('data', (b) => {
        buf = Buffer.concat([buf, b]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          this.answer(n.Id, msg, true, (reply) => { if (!c.destroyed) c.write(framed(reply)); });
        }
      });
    });
    tcp.on('error', failed);
    tcp.listen(53, gw);
    this.servers.set(n.Id, { udp, tcp });
  }

  /** From the network's names, or else from upstream, over the transport the query came by. */
  private answer(id: string, msg: Buffer, tcp: boolean, reply: (b: Buffer) => void): void {
    const net = this.network(id);
    const local = net ? localAnswer(net, msg) : undefined;
    if (local) reply(local);
    else this.forward(msg, tcp, reply);
  }

  stop(id: string): void {
    const s = this.servers.get(id);
    this.servers.delete(id);
    try { s?.udp.close(); } catch { /* closed */ }
    s?.tcp.close();
  }

  stopAll(): void { for (const id of [...this.servers.keys()]) this.stop(id); }

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

const framed = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m]);

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
    if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) end(buf.subarray(2, 2 + buf.readUInt16BE(0)));
  });
  c.on('end', () => end());
}

function servfail(query: Buffer): Buffer | undefined {
  try {
    const q = dnsPacket.decode(query);
    return dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 2, questions: q.questions, answers: [] });
  } catch { return undefined; }
}
