/** Entry point: `node bench/dist/main.js [flags]` (see cli.ts for the flags). */
import { main } from './cli.js';

const { code } = await main(process.argv.slice(2));
// grpc-js or a stray timer must not keep the process alive once the daemons are stopped.
process.exit(code);
