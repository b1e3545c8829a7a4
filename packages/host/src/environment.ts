/**
 * How the supervisor hands a service process its settings: environment variables naming files
 * under the state directory.
 */
import { readFileSync } from 'node:fs';
import { defaultConfig, type FlotillaConfig } from '@flotilla/config';

/** Path of the bus credentials file (JSON `{url,user,pass}`, mode 0600). */
export const ENV_BUS_CREDENTIALS = 'FLOTILLA_BUS_CREDENTIALS';
/** Path of the effective configuration as JSON, written by the supervisor. */
export const ENV_CONFIG_JSON = 'FLOTILLA_CONFIG_JSON';
/** Log level override. */
export const ENV_LOG_LEVEL = 'FLOTILLA_LOG_LEVEL';

/** The effective configuration handed down by the supervisor (defaults when run alone). */
export function configFromEnvironment(env = process.env): FlotillaConfig {
  const file = env[ENV_CONFIG_JSON];
  if (!file) return defaultConfig();
  return JSON.parse(readFileSync(file, 'utf8')) as FlotillaConfig;
}
