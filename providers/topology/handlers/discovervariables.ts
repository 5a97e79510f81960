// DiscoverVariables: the variable schemas, with defaults and descriptions.
// The same for every request; settings do not change them.
import { success, type DiscoverVariablesRequest, type DiscoverVariablesResponse } from '../api.js';
import { VARIABLES } from '../variables.js';

export function discoverVariables(_req: DiscoverVariablesRequest): DiscoverVariablesResponse {
  return success<DiscoverVariablesResponse>('DiscoverVariables', { variables: structuredClone([...VARIABLES]) });
}
