// AfterControlPlaneInitialized: label the Cluster for Sveltos add-on
// selection once its control plane answers. The handler computes the labels;
// the server writes them (a merge patch of metadata.labels) and answers
// Failure if that fails, so that CAPI calls again (the hook stays pending
// until it succeeds).
//
// Labels: ironplane.dev/addon-set=<set>, and addons.ironplane.dev/<component>=
// "true" for each component of the set and each mandatory component (the
// mandatoryAddons setting, default policies: a tenant choosing "none" still
// gets the baseline policies); component labels of neither are removed.
// Sveltos ClusterProfiles select clusters by the component labels.
import { failure, success, type ClusterRequest, type CommonResponse } from '../api.js';
import { ADDON_COMPONENTS, ADDON_SETS, parseValues, resolveMandatoryAddons, variableMap, type Config } from '../variables.js';
import type { Variable } from '../api.js';

export const ADDON_SET_LABEL = 'ironplane.dev/addon-set';
export const addonLabel = (component: string): string => `addons.ironplane.dev/${component}`;

export interface LabelResult {
  response: CommonResponse;
  /** The merge patch of metadata.labels: a value sets, null removes. Empty when the labels are already right. */
  labels: Record<string, string | null>;
}

/**
 * The labels `req.cluster` should carry. `config` gives the mandatory
 * add-ons; without it they are read from `req.settings` (an invalid setting
 * answers Failure naming it), and default to policies. A caller that does
 * not trust the request's settings passes the resolved ExtensionConfig
 * settings (resolveConfig(base, settings).config) instead.
 */
export function afterControlPlaneInitialized(req: ClusterRequest, config?: Pick<Config, 'mandatoryAddons'>): LabelResult {
  let mandatory = config?.mandatoryAddons;
  if (!mandatory) {
    const resolved = resolveMandatoryAddons(req.settings);
    if (resolved.problems.length) return { response: failure('AfterControlPlaneInitialized', resolved.problems.join('; ')), labels: {} };
    mandatory = resolved.mandatoryAddons;
  }
  const cluster = req.cluster;
  const { values, problems } = parseValues(variableMap((cluster.spec.topology?.variables ?? []) as Variable[]));
  const addonProblems = problems.filter((p) => p.startsWith('variable addons'));
  if (addonProblems.length) return { response: failure('AfterControlPlaneInitialized', addonProblems.join('; ')), labels: {} };
  const current = cluster.metadata.labels ?? {};
  const wanted = new Set<string>([...ADDON_SETS[values.addons], ...mandatory]);
  const labels: Record<string, string | null> = {};
  if (current[ADDON_SET_LABEL] !== values.addons) labels[ADDON_SET_LABEL] = values.addons;
  for (const c of ADDON_COMPONENTS) {
    const key = addonLabel(c);
    if (wanted.has(c) && current[key] !== 'true') labels[key] = 'true';
    if (!wanted.has(c) && key in current) labels[key] = null;
  }
  return { response: success<CommonResponse>('AfterControlPlaneInitialized', {}), labels };
}
