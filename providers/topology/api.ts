// The Runtime SDK wire format, hooks.runtime.cluster.x-k8s.io/v1alpha1, as
// the pinned Cluster API (v1.13.6) writes and reads it. Field names are the
// json tags of api/runtime/hooks/v1alpha1/*_types.go:
// - common_types.go: settings; status, message; retryAfterSeconds (no
//   omitempty: always written by Go, so we always write it on retry hooks);
// - discovery_types.go: handlers[{name, requestHook{apiVersion, hook},
//   timeoutSeconds, failurePolicy}];
// - topologymutation_types.go: variables[{name, value}], items[{uid,
//   holderReference{apiVersion, kind, namespace, name, fieldPath}, object,
//   variables}], response items[{uid, patchType, patch}] where patch is a Go
//   []byte, i.e. base64 in JSON;
// - lifecyclehooks_types.go: cluster (a v1beta2 Cluster), and
//   fromKubernetesVersion, toKubernetesVersion, controlPlaneUpgrades[{version}],
//   workersUpgrades[{version}] for BeforeClusterUpgrade.
import type { Cluster } from '../api/generated/capi/v1beta2/cluster.js';
import type { KubeObject } from '../kit/types.js';

export const HOOKS_GROUP = 'hooks.runtime.cluster.x-k8s.io';
export const HOOKS_VERSION = 'v1alpha1';
export const HOOKS_API_VERSION = `${HOOKS_GROUP}/${HOOKS_VERSION}`;

export type ResponseStatus = 'Success' | 'Failure';
export type FailurePolicy = 'Fail' | 'Ignore';

export interface CommonRequest {
  apiVersion: string;
  kind: string;
  settings?: Record<string, string>;
}

export interface CommonResponse {
  apiVersion: string;
  kind: string;
  status: ResponseStatus;
  message?: string;
}

export interface RetryResponse extends CommonResponse {
  retryAfterSeconds: number;
}

export interface Variable {
  name: string;
  value: unknown;
}

export interface HolderReference {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  fieldPath: string;
}

/** A template as CAPI sends it: a whole object (apiVersion, kind, metadata, spec). */
export interface TemplateObject extends KubeObject {
  spec?: Record<string, unknown>;
}

export interface ValidateTopologyRequestItem {
  holderReference: HolderReference;
  object: TemplateObject;
  variables?: Variable[];
}

export interface GeneratePatchesRequestItem extends ValidateTopologyRequestItem {
  uid: string;
}

export interface GeneratePatchesRequest extends CommonRequest {
  variables?: Variable[];
  items: GeneratePatchesRequestItem[];
}

export interface GeneratePatchesResponseItem {
  uid: string;
  patchType: 'JSONPatch' | 'JSONMergePatch';
  /** base64 of the patch document. */
  patch: string;
}

export interface GeneratePatchesResponse extends CommonResponse {
  items?: GeneratePatchesResponseItem[];
}

export interface ValidateTopologyRequest extends CommonRequest {
  variables?: Variable[];
  items: ValidateTopologyRequestItem[];
}

export type ValidateTopologyResponse = CommonResponse;

export type DiscoverVariablesRequest = CommonRequest;

/** A subset of CAPI's v1beta2 JSONSchemaProps (api/core/v1beta2/clusterclass_types.go): what our variables use. */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  example?: unknown;
  default?: unknown;
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps;
  required?: string[];
  items?: JSONSchemaProps;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
}

/** A v1beta2 ClusterClassVariable: `required` is a required field since v1beta2. */
export interface ClusterClassVariable {
  name: string;
  required: boolean;
  schema: { openAPIV3Schema: JSONSchemaProps };
}

export interface DiscoverVariablesResponse extends CommonResponse {
  variables?: ClusterClassVariable[];
}

export interface ExtensionHandler {
  name: string;
  requestHook: { apiVersion: string; hook: string };
  timeoutSeconds?: number;
  failurePolicy?: FailurePolicy;
}

export interface DiscoveryResponse extends CommonResponse {
  handlers?: ExtensionHandler[];
}

export interface ClusterRequest extends CommonRequest {
  cluster: Cluster;
}

export interface UpgradeStepInfo {
  version?: string;
}

export interface BeforeClusterUpgradeRequest extends ClusterRequest {
  fromKubernetesVersion: string;
  toKubernetesVersion: string;
  controlPlaneUpgrades?: UpgradeStepInfo[];
  workersUpgrades?: UpgradeStepInfo[];
}

export type HookName =
  | 'Discovery'
  | 'DiscoverVariables'
  | 'GeneratePatches'
  | 'ValidateTopology'
  | 'BeforeClusterCreate'
  | 'AfterControlPlaneInitialized'
  | 'BeforeClusterUpgrade'
  | 'BeforeClusterDelete';

/** Hooks whose response carries retryAfterSeconds (CommonRetryResponse). */
export const RETRY_HOOKS: ReadonlySet<HookName> = new Set(['BeforeClusterCreate', 'BeforeClusterUpgrade', 'BeforeClusterDelete']);

export const requestKind = (hook: HookName): string => `${hook}Request`;
export const responseKind = (hook: HookName): string => `${hook}Response`;

/** catalog.GVHToPath: /<group>/<version>/<lowercase hook>[/<lowercase handler name>]. */
export function hookPath(hook: HookName, handler?: string): string {
  return `/${HOOKS_GROUP}/${HOOKS_VERSION}/${hook.toLowerCase()}${handler ? `/${handler.toLowerCase()}` : ''}`;
}

/** A Success response of the hook, with retryAfterSeconds 0 where the hook has it. */
export function success<T extends CommonResponse>(hook: HookName, extra: Partial<T> = {}): T {
  return { apiVersion: HOOKS_API_VERSION, kind: responseKind(hook), status: 'Success', ...(RETRY_HOOKS.has(hook) ? { retryAfterSeconds: 0 } : {}), ...extra } as T;
}

export function failure(hook: HookName, message: string): CommonResponse {
  return { apiVersion: HOOKS_API_VERSION, kind: responseKind(hook), status: 'Failure', message, ...(RETRY_HOOKS.has(hook) ? { retryAfterSeconds: 0 } : {}) } as CommonResponse;
}

/** A blocking answer of a retry hook: Success with a non-zero retryAfterSeconds and a message saying why. */
export function blocked(hook: HookName, retryAfterSeconds: number, message: string): RetryResponse {
  return { apiVersion: HOOKS_API_VERSION, kind: responseKind(hook), status: 'Success', message, retryAfterSeconds };
}
