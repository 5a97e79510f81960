// AfterControlPlaneInitialized: label the Cluster for Sveltos add-on
// selection once its control plane answers. The handler computes the labels;
// the server writes them (a merge patch of metadata.labels) and answers
// Failure if that fails, so that CAPI calls again (the hook stays pending
// until it succeeds).
//
// Labels: ironplane.dev/addon-set=<set>, and addons.ironplane.dev/<component>=
// "true" for each component of the set; component labels of other sets are
// removed. Sveltos ClusterProfiles select clusters by the component labels.
import { failure, success, type ClusterRequest, type CommonResponse } from '../api.js';
import { ADDON_COMPONENTS, ADDON_SETS, parseValues, variableMap } from '../variables.js';
import type { Variable } from '../api.js';

export const ADDON_SET_LABEL = 'ironplane.dev/addon-set';
export const addonLabel = (component: string): string => `addons.ironplane.dev/${component}`;

export interface LabelResult {
  response: CommonResponse;
  /** The merge patch of metadata.labels: a value sets, null removes. Empty when the labels are already right. */
  labels: Record<string, string | null>;
}

export function afterControlPlaneInitialized(req: ClusterRequest): LabelResult {
  const cluster = req.cluster;
  const { values, problems } = parseValues(variableMap((cluster.spec.topology?.variables ?? []) as Variable[]));
  const addonProblems = problems.filter((p) => p.startsWith('variable addons'));
  if (addonProblems.length) return { response: failure('AfterControlPlaneInitialized', addonProblems.join('; ')), labels: {} };
  const current = cluster.metadata.labels ?? {};
  const wanted = new Set<string>(ADDON_SETS[values.addons]);
  const labels: Record<string, string | null> = {};
  if (current[ADDON_SET_LABEL] !== values.addons) labels[ADDON_SET_LABEL] = values.addons;
  for (const c of ADDON_COMPONENTS) {
    const key = addonLabel(c);
    if (wanted.has(c) && current[key] !== 'true') labels[key] = 'true';
    if (!wanted.has(c) && key in current) labels[key] = null;
  }
  return { response: success<CommonResponse>('AfterControlPlaneInitialized', {}), labels };
}
