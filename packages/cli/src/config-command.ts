/** `flotilla config default|dump`. */
import { parseArgs } from 'node:util';
import { loadConfig, renderDefaultToml, renderToml } from '@flotilla/config';
import { upOverrides } from './up.js';

/** Runs `flotilla config SUB ARGS`; returns the exit code. */
export function configCommand(args: string[]): number {
  const [sub, ...rest] = args;
  if (sub === 'default') {
    parseArgs({ args: rest, options: {}, strict: true });
    process.stdout.write(renderDefaultToml());
    return 0;
  }
  if (sub === 'dump') {
    const { file, overrides } = upOverrides(rest);
    const { config, warnings } = loadConfig({ file, overrides });
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(renderToml(config));
    return 0;
  }
  process.stderr.write('usage: flotilla config default|dump [-c FILE] [--root DIR] [--state DIR] [-a SOCK] [-l LEVEL]\n');
  return 2;
}
