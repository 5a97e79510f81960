// Discovery: the handlers this extension serves. CAPI registers each as
// "<name>.<ExtensionConfig name>", e.g. "generate-patches.ironplane", which is
// what a ClusterClass's spec.patches[].external refers to.
import { HOOKS_API_VERSION, success, type DiscoveryResponse, type ExtensionHandler, type FailurePolicy, type HookName } from '../api.js';

export interface HandlerSpec {
  /** DNS-1123 label; the last segment of the handler's path. */
  name: string;
  hook: Exclude<HookName, 'Discovery'>;
  /** CAPI allows 0–30; its default is 10. */
  timeoutSeconds: number;
  failurePolicy: FailurePolicy;
}

// Every handler fails closed: a topology that cannot be patched or validated
// must not be applied, a cluster whose tenancy cannot be checked must not be
// created, and a delete that cannot be checked must wait rather than leak.
export const HANDLERS: readonly HandlerSpec[] = [
  { name: 'discover-variables', hook: 'DiscoverVariables', timeoutSeconds: 10, failurePolicy: 'Fail' },
  { name: 'generate-patches', hook: 'GeneratePatches', timeoutSeconds: 10, failurePolicy: 'Fail' },
  { name: 'validate-topology', hook: 'ValidateTopology', timeoutSeconds: 10, failurePolicy: 'Fail' },
  { name: 'before-cluster-create', hook: 'BeforeClusterCreate', timeoutSeconds: 10, failurePolicy: 'Fail' },
  { name: 'after-control-plane-initialized', hook: 'AfterControlPlaneInitialized', timeoutSeconds: 10, failurePolicy: 'Fail' },
  { name: 'before-cluster-upgrade', hook: 'BeforeClusterUpgrade', timeoutSeconds: 10, failurePolicy: 'Fail' },
  { name: 'before-cluster-delete', hook: 'BeforeClusterDelete', timeoutSeconds: 10, failurePolicy: 'Fail' },
];

export function discovery(): DiscoveryResponse {
  const handlers: ExtensionHandler[] = HANDLERS.map((h) => ({
    name: h.name,
    requestHook: { apiVersion: HOOKS_API_VERSION, hook: h.hook },
    timeoutSeconds: h.timeoutSeconds,
    failurePolicy: h.failurePolicy,
  }));
  return success<DiscoveryResponse>('Discovery', { handlers });
}
