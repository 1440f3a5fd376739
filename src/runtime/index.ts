// The runtime's public face: the OCI runtime (create, start, state, kill,
// delete, pause, exec, update), config parsing, signals, the default spec
// and capabilities, the host's cgroup layout, and the executor's path.
// Nothing outside src/runtime imports its inner files.
export { Runtime, DEFAULT_ROOT } from './container.js';
export { parseConfig } from './config.js';
export { signalNumber } from './signals.js';
export { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from './caps.js';
export { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, defaultSpec, features } from './spec-default.js';
export { detectHost, oomKillDisableSupported, v1KnobSupported } from './cgroups/index.js';
export { executorPath, spawnExecutorsWith, spawnedExecutorsEnded } from './executor.js';
export { warmPlanning } from './warmup.js';
