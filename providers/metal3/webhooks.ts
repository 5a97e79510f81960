// The Metal3 provider's admission webhooks: its templates are immutable.
import type { Review } from '../kit/admission.js';
import { templateImmutable } from '../capi/templates.js';

export const WEBHOOK_PATHS = {
  metalMachineTemplate: '/validate-infrastructure-ironplane-dev-v1alpha1-metalmachinetemplate',
  metalClusterTemplate: '/validate-infrastructure-ironplane-dev-v1alpha1-metalclustertemplate',
} as const;

export const metal3Webhooks: Record<string, Review> = {
  [WEBHOOK_PATHS.metalMachineTemplate]: templateImmutable('MetalMachineTemplate'),
  [WEBHOOK_PATHS.metalClusterTemplate]: templateImmutable('MetalClusterTemplate'),
};
