/** containerd.services.version.v1.Version. */
import { FLOTILLA_REVISION, FLOTILLA_VERSION } from '@flotilla/api';
import type { GatewayContext } from '../gateway-context.js';
import { unary } from '../status.js';

/** The Version service implementation. */
export function versionService(g: GatewayContext) {
  return {
    Version: unary(g.log, 'Version', async () => ({ version: FLOTILLA_VERSION, revision: FLOTILLA_REVISION })),
  };
}
