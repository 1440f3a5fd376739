// The fast path between the containers of one network. A frame that a
// container sends to another of its network leaves its veth into the host,
// crosses the bridge, and with br_netfilter (which docker loads) passes the
// host's IP hooks: conntrack and every forward chain there, docker's and
// podman's too. Here a tc program at the ingress of each host end looks the
// frame's destination MAC up in the network's map and, when it is one of the
// network's containers, hands the frame straight to that container's eth0
// (bpf_redirect_peer). Everything else (ARP, broadcast, the gateway, other
// networks) goes on through the bridge as before. The map and the program
// are data made here; native/net/bpf.c only loads and attaches them.
import { closeSync } from 'node:fs';
import { fsx } from '../util/fsx.js';
import type { EndpointRecord, NetworkRecord } from './records.js';

/** The program's name: a daemon started again replaces the one of its predecessor by it. */
export const FAST_PATH_PROG = 'berth_fwd';

// eBPF (linux/bpf.h): registers, and the helpers called
const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6, R10 = 10;
const MAP_LOOKUP_ELEM = 1, REDIRECT_PEER = 155;
/** struct __sk_buff: data, data_end */
const DATA = 76, DATA_END = 80;
/** tcx: let the next program (or the stack) have the frame */
const TCX_NEXT = -1;

type Insn = [code: number, dst: number, src: number, off: number, imm: number];

/** The program for the map whose fd is `mapFd`: redirect to map[dst MAC], or pass. */
export function fastPathProgram(mapFd: number): Buffer {
  const PASS = 'pass', TO_PASS = -1; // a jump to PASS, its offset set below
  const p: (Insn | typeof PASS)[] = [
    [0xbf, R6, R1, 0, 0], // r6 = skb
    [0x61, R2, R6, DATA, 0],
    [0x61, R3, R6, DATA_END, 0],
    [0xbf, R4, R2, 0, 0],
    [0x07, R4, 0, 0, 6],
    [0x2d, R4, R3, TO_PASS, 0], // no whole destination MAC: pass
    [0x61, R5, R2, 0, 0], // the key: the 6 bytes of the destination MAC, then 2 zero bytes
    [0x63, R10, R5, -8, 0],
    [0x69, R5, R2, 4, 0],
    [0x6b, R10, R5, -4, 0],
    [0x6a, R10, 0, -2, 0],
    [0x18, R1, 1 /* BPF_PSEUDO_MAP_FD */, 0, mapFd],
    [0x00, 0, 0, 0, 0],
    [0xbf, R2, R10, 0, 0],
    [0x07, R2, 0, 0, -8],
    [0x85, 0, 0, 0, MAP_LOOKUP_ELEM],
    [0x15, R0, 0, TO_PASS, 0], // not one of the network's: pass
    [0x61, R1, R0, 0, 0],
    [0xb7, R2, 0, 0, 0],
    [0x85, 0, 0, 0, REDIRECT_PEER],
    [0x95, 0, 0, 0, 0],
    PASS,
    [0xb7, R0, 0, 0, TCX_NEXT],
    [0x95, 0, 0, 0, 0],
  ];
  const pass = p.indexOf(PASS);
  const insns = p.filter((x): x is Insn => x !== PASS).map((x, i) => (x[3] === TO_PASS && (x[0] === 0x2d || x[0] === 0x15) ? [x[0], x[1], x[2], pass - i - 1, x[4]] as Insn : x));
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach(([code, dst, src, off, imm], i) => {
    buf.writeUInt8(code, i * 8);
    buf.writeUInt8((src << 4) | dst, i * 8 + 1);
    buf.writeInt16LE(off, i * 8 + 2);
    buf.writeInt32LE(imm | 0, i * 8 + 4);
  });
  return buf;
}

/** A MAC as the map's key: its 6 bytes and 2 zero bytes. */
export function macKey(mac: string): Buffer {
  const b = Buffer.alloc(8);
  Buffer.from(mac.split(':').join(''), 'hex').copy(b);
  return b;
}

export class FastPath {
  private readonly of = new Map<string, { map: number; prog: number }>();

  constructor(private readonly log: (msg: string) => void) {}

  /**
   * Frames from the endpoint's container to others of the network, and from
   * them to it, take the fast path. It is only faster: when it cannot be
   * made, the bridge carries them as before, and this says why.
   */
  add(n: NetworkRecord, e: EndpointRecord): void {
    try {
      const p = this.made(n);
      const ifindex = fsx().netBpf('attach', e.HostLink, p.prog, FAST_PATH_PROG);
      fsx().netBpf('set', p.map, macKey(e.MacAddress), ifindex);
    } catch (err) {
      this.log(`the fast path of network ${n.Name} for ${e.Name}: ${(err as Error).message}; its bridge carries the traffic`);
    }
  }

  /** Before its lease is given back: an address taken again (its MAC with it) must not be sent to this endpoint's gone veth. */
  remove(n: NetworkRecord, e: EndpointRecord): void {
    const p = this.of.get(n.Id);
    if (!p) return;
    try { fsx().netBpf('del', p.map, macKey(e.MacAddress)); } catch (err) { this.log(`the fast path of network ${n.Name}: ${(err as Error).message}`); }
  }

  /** The network is gone: its map and program go with the last veth that held them. */
  drop(n: NetworkRecord): void {
    const p = this.of.get(n.Id);
    this.of.delete(n.Id);
    if (p) { closeSync(p.map); closeSync(p.prog); }
  }

  private made(n: NetworkRecord): { map: number; prog: number } {
    let p = this.of.get(n.Id);
    if (p) return p;
    const map = fsx().netBpf('map', `berth_${n.Id.slice(0, 9)}`);
    try {
      p = { map, prog: fsx().netBpf('load', FAST_PATH_PROG, fastPathProgram(map)) };
    } catch (e) { closeSync(map); throw e; }
    this.of.set(n.Id, p);
    return p;
  }
}
