// Entry of the bundled berth CLI for container verbs, started by src/cli/launcher.ts.
export { main } from './berth-containers.js';
export const warm = async (): Promise<void> => {};
