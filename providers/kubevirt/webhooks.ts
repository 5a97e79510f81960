// The KubeVirt provider's admission webhooks: its templates are immutable.
import type { Review } from '../kit/admission.js';
import { templateImmutable } from '../capi/templates.js';

export const WEBHOOK_PATHS = {
  kvmMachineTemplate: '/validate-infrastructure-ironplane-dev-v1alpha1-kvmmachinetemplate',
  kvmClusterTemplate: '/validate-infrastructure-ironplane-dev-v1alpha1-kvmclustertemplate',
} as const;

export const kubevirtWebhooks: Record<string, Review> = {
  [WEBHOOK_PATHS.kvmMachineTemplate]: templateImmutable('KvmMachineTemplate'),
  [WEBHOOK_PATHS.kvmClusterTemplate]: templateImmutable('KvmClusterTemplate'),
};
