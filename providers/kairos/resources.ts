// The kinds the Kairos bootstrap provider reads and writes.
import type { ResourceType } from '../kit/types.js';
import { KairosConfigResource } from '../api/generated/ironplane/v1alpha1/kairosconfig.js';
import { KairosConfigTemplateResource } from '../api/generated/ironplane/v1alpha1/kairosconfigtemplate.js';

export const KairosConfigs: ResourceType = KairosConfigResource;
export const KairosConfigTemplates: ResourceType = KairosConfigTemplateResource;
