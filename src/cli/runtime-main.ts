import { main } from './runtime.js';

process.exitCode = await main(process.argv.slice(2));
