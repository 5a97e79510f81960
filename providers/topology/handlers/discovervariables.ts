// DiscoverVariables: the variable schemas, with defaults and descriptions,
// restricted to the platform's allowlists from the settings CAPI sends (the
// ExtensionConfig's, overridden by the ClusterClass patch's external.settings;
// the ClusterClass controller calls this per class and caches the answer by
// settings and ExtensionConfig resourceVersion). CAPI validates every Cluster
// variable against these schemas at create and update (adr/0008).
//
// Settings the schemas cannot be built from answer Failure naming them; CAPI
// shows it in the ClusterClass's VariablesReady condition.
import { failure, success, type DiscoverVariablesRequest, type DiscoverVariablesResponse } from '../api.js';
import { variablesFor } from '../variables.js';
import { joinProblems } from './generatepatches.js';

export function discoverVariables(req: DiscoverVariablesRequest): DiscoverVariablesResponse {
  const { variables, problems } = variablesFor(req.settings);
  if (problems.length) return failure('DiscoverVariables', joinProblems(problems)) as DiscoverVariablesResponse;
  return success<DiscoverVariablesResponse>('DiscoverVariables', { variables });
}
