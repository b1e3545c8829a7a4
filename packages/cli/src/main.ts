/** `flotilla` command line: up, config, status. */
import { codeOf, messageOf } from '@flotilla/api';
import { fsckCommand, gcCommand } from './admin.js';
import { configCommand } from './config-command.js';
import { statusCommand } from './status.js';
import { up } from './up.js';

const USAGE = `usage: flotilla <command>

commands:
  up [-c FILE] [--root DIR] [--state DIR] [-a|--address SOCK] [-l LEVEL]   run Flotilla
  config default                                                         print the default config.toml
  config dump [flags of up]                                              print the effective config
  status [--state DIR] [--json]                                          show each process
  fsck [--state DIR] [--json]                                            check metadata against the backends
  gc [--state DIR]                                                       collect garbage now
`;

/** Runs the CLI with `argv` (without node and script). */
export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'up':
        return await up(rest);
      case 'config':
        process.exitCode = configCommand(rest);
        return;
      case 'status':
        process.exitCode = await statusCommand(rest);
        return;
      case 'fsck':
        process.exitCode = await fsckCommand(rest);
        return;
      case 'gc':
        process.exitCode = await gcCommand(rest);
        return;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return;
      default:
        process.stderr.write(`flotilla: unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
        process.exitCode = 2;
    }
  } catch (err) {
    process.stderr.write(`flotilla: ${messageOf(err)}\n`);
    process.exitCode = codeOf(err) === 3 ? 2 : 1;
  }
}
