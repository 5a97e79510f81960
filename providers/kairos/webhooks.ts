// The Kairos provider's admission webhooks: what the CRD schema and CEL
// cannot check (extraConfig is YAML text) is refused on create and update,
// with the path of each problem; KairosConfigTemplates are immutable, as the
// Cluster API ClusterClass contract asks of templates (dry-runs pass).
import type { KairosConfig } from '../api/generated/ironplane/v1alpha1/kairosconfig.js';
import type { KairosConfigTemplate } from '../api/generated/ironplane/v1alpha1/kairosconfigtemplate.js';
import type { AdmissionRequest, Review, Verdict } from '../kit/admission.js';
import { templateImmutable } from '../capi/templates.js';
import { specProblems } from './validate.js';

export const WEBHOOK_PATHS = {
  kairosConfig: '/validate-bootstrap-ironplane-dev-v1alpha1-kairosconfig',
  kairosConfigTemplate: '/validate-bootstrap-ironplane-dev-v1alpha1-kairosconfigtemplate',
} as const;

function verdict(kind: string, req: AdmissionRequest, problems: string[]): Verdict {
  return problems.length ? { allowed: false, message: `${kind} ${req.namespace}/${req.name} is invalid: ${problems.join('; ')}` } : { allowed: true };
}

export const validateKairosConfig: Review = (req) => {
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return { allowed: true };
  return verdict('KairosConfig', req, specProblems((req.object as KairosConfig | undefined)?.spec));
};

const templateUnchanged = templateImmutable('KairosConfigTemplate');

export const validateKairosConfigTemplate: Review = (req) => {
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return { allowed: true };
  const immutable = templateUnchanged(req);
  if (!immutable.allowed) return immutable;
  return verdict('KairosConfigTemplate', req, specProblems((req.object as KairosConfigTemplate | undefined)?.spec?.template?.spec, 'spec.template.spec'));
};

export const kairosWebhooks: Record<string, Review> = {
  [WEBHOOK_PATHS.kairosConfig]: validateKairosConfig,
  [WEBHOOK_PATHS.kairosConfigTemplate]: validateKairosConfigTemplate,
};
