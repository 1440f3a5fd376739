// Entry of the bundled runtime CLI, started by src/cli/launcher.ts.
export { main } from './runtime.js';
export { warmPlanning as warm } from '../runtime/index.js';
export { serve } from './runtime.js';
