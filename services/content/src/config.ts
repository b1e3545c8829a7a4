/** The content service's configuration. */
import { join } from 'node:path';
import type { FlotillaConfig } from '@flotilla/config';
import { CONTENT_DIR } from './local/layout.js';

/** Settings the content service uses. */
export interface ContentConfig {
  /** The store folder: `<root>/io.containerd.content.v1.content`. */
  dir: string;
}

/** Extracts the content settings from the effective configuration. */
export function contentConfig(cfg: FlotillaConfig): ContentConfig {
  return { dir: join(cfg.root, CONTENT_DIR) };
}
