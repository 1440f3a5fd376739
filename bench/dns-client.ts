// A DNS client for the network benchmark, run inside a container's network
// namespace (nsenter -n): COUNT sequential A queries for NAME to SERVER:53
// over UDP; prints {"medianMs", "answered"} as JSON.
// Run: nsenter -t PID -n node dist/bench/dns-client.js SERVER NAME COUNT
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';

const [server = '127.0.0.11', name = 'x', countText = '200'] = process.argv.slice(2);
const count = Number(countText);
const s = createSocket(server.includes(':') ? 'udp6' : 'udp4');
const times: number[] = [];
let answered = 0;

function ask(id: number): Promise<void> {
  return new Promise((res) => {
    const t0 = process.hrtime.bigint();
    const timer = setTimeout(() => { s.off('message', on); res(); }, 2000);
    const on = (m: Buffer) => {
      const r = dnsPacket.decode(m);
      if (r.id !== id) return;
      clearTimeout(timer);
      s.off('message', on);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.answers?.some((a) => a.type === 'A')) answered++;
      res();
    };
    s.on('message', on);
    s.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, server);
  });
}

for (let i = 0; i < count; i++) await ask((i % 65000) + 1);
s.close();
times.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ medianMs: times[Math.floor(times.length / 2)] ?? null, answered }) + '\n');
