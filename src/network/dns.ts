// The embedded DNS of user-defined networks: berthd answers on each such
// network's gateway address (port 53, as podman's aardvark-dns does) for the
// names of the containers on that network (name, short ID, aliases, which
// compose sets to the service name); other names go to the host's resolvers
// (its /etc/resolv.conf, or $BERTH_RESOLV_CONF), and their answers come back
// as they are.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import { ipv4Config, type NetworkRecord } from './records.js';

/** The nameservers of a resolv.conf text. */
export function nameservers(text: string): string[] {
  return text.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[0] === 'nameserver' && f[1]).map((f) => f[1]!);
}

export function hostResolvConf(): string {
  try { return readFileSync(process.env.BERTH_RESOLV_CONF || '/etc/resolv.conf', 'utf8'); } catch { return ''; }
}

/** The IPv4 addresses a name has on a network: its containers' names, short IDs and aliases, case aside. */
export function addressesOn(n: NetworkRecord, name: string): string[] {
  const want = name.toLowerCase().replace(/\.$/, '');
  return Object.values(n.Endpoints)
    .filter((e) => [e.Name, e.ContainerID.slice(0, 12), ...e.Aliases].some((x) => x.toLowerCase() === want))
    .map((e) => e.IPv4Address.split('/')[0]!);
}

/** The answer to a query from what the network knows, or undefined when the name is not one of its own. */
export function localAnswer(n: NetworkRecord, query: Buffer): Buffer | undefined {
  let q: dnsPacket.Packet;
  try { q = dnsPacket.decode(query); } catch { return undefined; }
  const question = q.questions?.[0];
  if (!question) return undefined;
  const ips = addressesOn(n, question.name);
  if (!ips.length) return undefined;
  // a known name has no record of other types: an empty answer, not NXDOMAIN (as docker's resolver answers)
  const answers = question.type === 'A' ? ips.map((ip) => ({ type: 'A' as const, name: question.name, ttl: 600, class: 'IN' as const, data: ip })) : [];
  return dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions, answers });
}

export class EmbeddedDns {
  private readonly sockets = new Map<string, Socket>();

  constructor(private readonly network: (id: string) => NetworkRecord | undefined, private readonly log: (msg: string) => void) {}

  /** Answers on the network's gateway (IPv4), until stop. */
  serve(n: NetworkRecord): void {
    const gw = ipv4Config(n)?.Gateway;
    if (!gw || this.sockets.has(n.Id)) return;
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('error', (e) => { this.log(`dns on ${gw}:53 (${n.Name}): ${e.message}`); this.stop(n.Id); });
    s.on('message', (msg, from) => {
      const net = this.network(n.Id);
      const local = net ? localAnswer(net, msg) : undefined;
      if (local) s.send(local, from.port, from.address);
      else this.forward(msg, (reply) => s.send(reply, from.port, from.address));
    });
    s.bind(53, gw);
    this.sockets.set(n.Id, s);
  }

  stop(id: string): void {
    const s = this.sockets.get(id);
    this.sockets.delete(id);
    try { s?.close(); } catch { /* closed */ }
  }

  stopAll(): void { for (const id of [...this.sockets.keys()]) this.stop(id); }

  /** Sends the query to each upstream in turn (2 s each) and relays the first reply; none: SERVFAIL. */
  private forward(query: Buffer, reply: (b: Buffer) => void): void {
    const upstreams = nameservers(hostResolvConf());
    const tryNext = (i: number) => {
      if (i >= upstreams.length) { const f = servfail(query); if (f) reply(f); return; }
      const u = createSocket(upstreams[i]!.includes(':') ? 'udp6' : 'udp4');
      const timer = setTimeout(() => { u.close(); tryNext(i + 1); }, 2000);
      u.on('message', (m) => { clearTimeout(timer); u.close(); reply(m); });
      u.on('error', () => { clearTimeout(timer); try { u.close(); } catch { /* closed */ } tryNext(i + 1); });
      u.send(query, 53, upstreams[i]!);
    };
    tryNext(0);
  }
}

function servfail(query: Buffer): Buffer | undefined {
  try {
    const q = dnsPacket.decode(query);
    return dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 2, questions: q.questions, answers: [] });
  } catch { return undefined; }
}
