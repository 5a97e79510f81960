// Hand-written Kubernetes metadata types shared by every generated API type.
// CRD schemas only say `metadata: {type: object}`; the apiserver owns
// ObjectMeta, so it is typed here once instead of per CRD.
// Timestamps stay RFC 3339 strings: objects are read as plain JSON, never
// through client-node's typed models (which turn them into Date objects).

// ObjectMeta and OwnerReference are the kit's: one definition for the
// controller runtime and for every generated type.
export type { ObjectMeta, OwnerReference } from '../kit/types.js';

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

/** Where a generated kind lives on the apiserver; structurally a kit ResourceType. */
export interface ResourceInfo {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  readonly apiVersion: string;
}
