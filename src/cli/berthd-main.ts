// Entry of the bundled daemon, started by src/cli/launcher.ts.
export { main } from './berthd.js';
export { warmPlanning as warm } from '../runtime/index.js';
