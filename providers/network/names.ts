// Names, labels and kinds of the network role (PeeringRequest → kube-OVN
// Vpc peerings and routes).
import { PeeringRequestResource } from '../api/generated/ironplane/v1alpha1/peeringrequest.js';
import type { ResourceType } from '../kit/types.js';

export const GROUP = 'network.ironplane.dev';

export const PeeringRequests: ResourceType = PeeringRequestResource;

export const PEERING_FINALIZER = 'peeringrequest.network.ironplane.dev';

/** The field manager of every Vpc write: SSA ownership of spec.vpcPeerings and spec.staticRoutes. */
export const FIELD_MANAGER = 'ironplane-network';

/** On link records (ConfigMaps in the manager's namespace): who made them, and which pair they join. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'ironplane-network';
export const PAIR_LABEL = 'network.ironplane.dev/pair';

/** A link record's name: one object per /30 of the interconnect range, so the apiserver's name uniqueness makes allocation collision-free. */
export function linkRecordName(index: number): string {
  return `peering-link-${index}`;
}

export function linkIndexOf(name: string): number | undefined {
  const m = /^peering-link-(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** kube-OVN routes by destination: the peer's node CIDR via the peer router's link address. */
export const ROUTE_POLICY = 'policyDst';

export type { ResourceType };
