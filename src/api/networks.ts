// The network and build-cache endpoints as far as berth has them: the two
// networks every container can use ("none", its own namespace with loopback,
// which "bridge" and "default" also give until bridges are built, and "host"),
// and no build cache (berth builds no images yet). docker system prune and
// docker network ls work against them; creating a network is refused by name.
import { ApiError, type Router } from './server.js';

const NETWORKS = [
  { Name: 'none', Driver: 'null' },
  { Name: 'host', Driver: 'host' },
].map((n) => ({
  ...n, Id: Buffer.from(n.Name.padEnd(32, '0')).toString('hex'), Created: '0001-01-01T00:00:00Z', Scope: 'local',
  EnableIPv6: false, IPAM: { Driver: 'default', Options: null, Config: [] }, Internal: false, Attachable: false, Ingress: false,
  ConfigFrom: { Network: '' }, ConfigOnly: false, Containers: {}, Options: {}, Labels: {},
}));

/** `publish`: an event to /events (Engine.publish). */
export function networkRoutes(r: Router, publish: (type: string, action: string, id: string, attrs: Record<string, string>) => void): void {
  r.add('GET', '/networks', () => NETWORKS);
  r.add('GET', '/networks/{id}', (req) => {
    const id = req.params.id!;
    const n = NETWORKS.find((x) => x.Name === id || (id.length >= 2 && x.Id.startsWith(id)));
    if (!n) throw new ApiError(404, `network ${id} not found`);
    return n;
  });
  // predefined networks are never pruned; docker's prune event comes all the same
  r.add('POST', '/networks/prune', () => {
    publish('network', 'prune', '', { reclaimed: '0' });
    return { NetworksDeleted: [] };
  });
  /** A network named by its name or whole ID, or a 404. */
  const named = (id: string) => {
    const n = NETWORKS.find((x) => x.Name === id || x.Id === id);
    if (!n) throw new ApiError(404, `network ${id} not found`);
    return n;
  };
  r.add('DELETE', '/networks/{id}', (req) => {
    throw new ApiError(403, `${named(req.params.id!).Name} is a pre-defined network and cannot be removed`);
  });
  for (const verb of ['connect', 'disconnect']) {
    r.add('POST', `/networks/{id}/${verb}`, (req) => {
      const n = named(req.params.id!);
      throw new ApiError(403, `cannot ${verb} a running container ${verb === 'connect' ? 'to' : 'from'} the ${n.Name} network: berth's containers join none or host when created`);
    });
  }
  r.add('POST', '/networks/create', async (req) => {
    const b = (await req.json()) as { Name?: string };
    throw new ApiError(501, `cannot create network ${JSON.stringify(b.Name ?? '')}: berth has only the predefined networks "none" and "host" (user-defined bridge networks are not built yet)`);
  });
  r.add('POST', '/build/prune', () => ({ CachesDeleted: [], SpaceReclaimed: 0 }));
}
