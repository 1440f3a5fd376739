import { main } from './berth.js';

process.exitCode = await main(process.argv.slice(2));
