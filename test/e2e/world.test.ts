import { describe, expect, it } from 'vitest';
import { startE2E } from './world.js';

describe('startE2E', () => {
  it('given IRONPLANE_E2E_KUBECONFIG, should refuse instead of silently starting a local plane', async () => {
    process.env['IRONPLANE_E2E_KUBECONFIG'] = '/tmp/kind.kubeconfig';
    try {
      await expect(startE2E({ name: 'refused' })).rejects.toThrow(
        'IRONPLANE_E2E_KUBECONFIG is set, but the e2e worlds run only on the local management plane they start; see test/e2e/README.md (On a kind management cluster)',
      );
    } finally {
      delete process.env['IRONPLANE_E2E_KUBECONFIG'];
    }
  });
});
