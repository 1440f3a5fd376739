// The engine's public face: the Engine (containers, execs, volumes, events),
// its record and event types, and what the API's streams need of logs and
// shims. Nothing above src/engine imports its inner files.
export { Engine, ExecStartError, StartError, parseDetachKeys, type ContainerRecord, type EngineEvent, type ExecRecord } from './containers.js';
export { readLogs, frame } from './logs.js';
export { directOutputPid } from './shim.js';
export { inspectHostConfig } from './container-config.js';
export { imageStoreIn } from './data-root.js';
export { DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT, DEFAULT_SOCKET } from './defaults.js';
export { buildImage, removeBuildSteps, type BuildContext, type BuildHooks } from './build.js';
