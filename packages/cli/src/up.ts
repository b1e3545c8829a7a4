/** `flotilla up`: run Flotilla in the foreground until SIGTERM/SIGINT. */
import { parseArgs } from 'node:util';
import { loadConfig, type DeepPartial, type FlotillaConfig, type LogLevel } from '@flotilla/config';
import { createLogger } from '@flotilla/log';
import { Supervisor } from '@flotilla/supervisor';

/** Flags of `flotilla up` (they override the config file, as containerd's do). */
export function upOverrides(args: string[]): { file?: string; overrides: DeepPartial<FlotillaConfig> } {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      root: { type: 'string' },
      state: { type: 'string' },
      address: { type: 'string', short: 'a' },
      'log-level': { type: 'string', short: 'l' },
    },
    strict: true,
  });
  const overrides: DeepPartial<FlotillaConfig> = {};
  if (values.root) overrides.root = values.root;
  if (values.state) overrides.state = values.state;
  if (values.address) overrides.grpc = { address: values.address };
  if (values['log-level']) overrides.debug = { level: values['log-level'] as LogLevel };
  return { file: values.config, overrides };
}

/** Runs `flotilla up ARGS`. */
export async function up(args: string[]): Promise<void> {
  const { file, overrides } = upOverrides(args);
  // Without --address, the socket lives under the state dir when --state moves it.
  if (overrides.state && !overrides.grpc?.address) overrides.grpc = { address: `${overrides.state}/containerd.sock` };
  const { config, warnings } = loadConfig({ file, overrides });
  const log = createLogger('supervisor', config.debug.level);
  for (const w of warnings) log.warn(w);
  const sup = new Supervisor(config, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void sup.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await sup.start();
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    await sup.stop().catch(() => undefined);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 200);
  }
}
