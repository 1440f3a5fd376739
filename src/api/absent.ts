// What berth does not have, answered as a dockerd without it answers, since
// clients rely on those answers: swarm (berth reaches past one machine
// through Kubernetes' CRI instead), as a dockerd not in swarm mode (503 and
// its words: docker-py's cleanup ignores that 503 and goes on); and plugins,
// as a dockerd with none installed (an empty list, a named one not found).
import { ApiError, type Router } from './server.js';

const NOT_A_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NO_SWARM = 'berth does not offer swarm: it runs containers on this machine, and reaches past it through Kubernetes (CRI). ' + NOT_A_MANAGER;

export function absentRoutes(r: Router): void {
  const swarm = (say = NOT_A_MANAGER) => () => { throw new ApiError(503, say); };
  r.add('GET', '/swarm', swarm());
  for (const verb of ['init', 'join']) r.add('POST', `/swarm/${verb}`, swarm(NO_SWARM));
  for (const verb of ['leave', 'update', 'unlock']) r.add('POST', `/swarm/${verb}`, swarm());
  r.add('GET', '/swarm/unlockkey', swarm());
  for (const kind of ['nodes', 'services', 'tasks', 'secrets', 'configs']) {
    r.add('GET', `/${kind}`, swarm());
    r.add('GET', `/${kind}/{id}`, swarm());
    r.add('DELETE', `/${kind}/{id}`, swarm());
    r.add('POST', `/${kind}/{id}/update`, swarm());
    if (kind !== 'nodes' && kind !== 'tasks') r.add('POST', `/${kind}/create`, swarm());
  }
  r.add('GET', '/services/{id}/logs', swarm());
  r.add('GET', '/tasks/{id}/logs', swarm());

  r.add('GET', '/plugins', () => []);
  const notFound = (req: { params: Record<string, string | undefined> }) => { throw new ApiError(404, `plugin "${req.params.name}" not found`); };
  r.add('GET', '/plugins/{name*}/json', notFound);
  r.add('DELETE', '/plugins/{name*}', notFound);
  for (const verb of ['enable', 'disable', 'push', 'set', 'upgrade']) r.add('POST', `/plugins/{name*}/${verb}`, notFound);
  const noPlugins = () => { throw new ApiError(501, 'berth has no plugin system: its volume, network and log drivers are built in'); };
  r.add('GET', '/plugins/privileges', noPlugins);
  r.add('POST', '/plugins/pull', noPlugins);
  r.add('POST', '/plugins/create', noPlugins);
}
