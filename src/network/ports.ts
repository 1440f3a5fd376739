// Published ports: docker's PortBindings ("80/tcp": [{HostIp, HostPort}])
// and -P (every exposed port on a free host port) as requests, and whether a
// host port is taken by another program (a listening TCP socket, a bound
// UDP one), from /proc/net.
import { readFileSync } from 'node:fs';
import { InvalidInput } from '../util/check.js';

/** hostPort undefined: any free port; with hostPortLast: the first free one of hostPort-hostPortLast. */
export interface PortRequest { proto: 'tcp' | 'udp'; hostIp: string; hostPort: number | undefined; hostPortLast?: number; containerPort: number }

function portKey(key: string, field: string): { port: number; proto: 'tcp' | 'udp' } {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidInput(field, `invalid port "${key}" (PORT[/tcp|/udp])`);
  if (m[2] === 'sctp') throw new InvalidInput(field, `${key}: berth publishes tcp and udp ports`);
  return { port, proto: (m[2] ?? 'tcp') as 'tcp' | 'udp' };
}

/** The ports to publish: PortBindings, and with publishAll every exposed port not bound already. */
export function parsePortBindings(bindings: Record<string, { HostIp?: string; HostPort?: string }[] | null> | undefined, exposed: Record<string, unknown> | undefined, publishAll: boolean): PortRequest[] {
  const out: PortRequest[] = [];
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const field = `HostConfig.PortBindings["${key}"]`;
    const { port, proto } = portKey(key, field);
    for (const b of list?.length ? list : [{}]) {
      const hp = b.HostPort ?? '';
      // docker's: '' and '0' are any free port, 'A-B' the first free one of a range
      const m = /^(\d+)(?:-(\d+))?$/.exec(hp);
      const first = m ? Number(m[1]) : NaN, last = m?.[2] ? Number(m[2]) : undefined;
      if (hp !== '' && (!m || first > 65535 || (last !== undefined && (first < 1 || last > 65535 || last < first)))) throw new InvalidInput(field, `invalid host port "${hp}"`);
      out.push({ proto, hostIp: b.HostIp ?? '', hostPort: hp === '' || first === 0 ? undefined : first, ...(last !== undefined && { hostPortLast: last }), containerPort: port });
    }
  }
  if (publishAll) {
    for (const key of Object.keys(exposed ?? {})) {
      const { port, proto } = portKey(key, `Config.ExposedPorts["${key}"]`);
      if (!out.some((p) => p.containerPort === port && p.proto === proto)) out.push({ proto, hostIp: '', hostPort: undefined, containerPort: port });
    }
  }
  return out;
}

/** The exposed ports a create body adds by publishing (docker exposes every published port). */
export function exposedPorts(bindings: Record<string, unknown> | undefined): string[] {
  return Object.keys(bindings ?? {}).map((k) => (k.includes('/') ? k : `${k}/tcp`));
}

/** Whether a program on the host listens on (tcp) or has bound (udp) this port, on any address. */
export function portInUse(proto: 'tcp' | 'udp', port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of proto === 'tcp' ? ['tcp', 'tcp6'] : ['udp', 'udp6']) {
    let text = '';
    try { text = readFileSync(`/proc/net/${f}`, 'utf8'); } catch { continue; }
    for (const l of text.split('\n').slice(1)) {
      const c = l.trim().split(/\s+/);
      if (c.length < 4) continue;
      // tcp: only LISTEN (0A); udp: any bound socket (07, unconnected)
      if (c[1]!.endsWith(`:${hex}`) && (proto === 'udp' || c[3] === '0A')) return true;
    }
  }
  return false;
}
