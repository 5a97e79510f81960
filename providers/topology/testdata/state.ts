// A StateSource for server tests: the Clusters "the apiserver holds" are a
// list, premises run on them as ClusterState runs them, and writes are
// recorded. test/integration/topology runs the real ClusterState.
import type { Cluster } from '../../capi/contract.js';
import type { RetryResponse } from '../api.js';
import type { Tenancy } from '../checks.js';
import type { Fleet } from '../handlers/beforeclusterupgrade.js';
import type { Release } from '../handlers/beforeclusterdelete.js';
import type { ClassKinds } from '../machinesets.js';
import { notHeld, type ControlPlaneVersion } from '../premises.js';
import type { StateSource } from '../state.js';
import { fixture, KVM_KINDS, tenancy } from './fixtures.js';

export interface MemoryStateOptions {
  clusters: Cluster[];
  tenancy: Tenancy;
  kinds: ClassKinds;
  fleet: Fleet;
  controlPlane: ControlPlaneVersion | string;
  settings: Record<string, string>;
  release: Release | (() => Promise<Release>);
  label: (labels: Record<string, string | null>) => Promise<void>;
}

/** The Cluster of a recorded request, with the status the apiserver would hold (CAPI's requests carry none). */
export function heldCopy(name: string, status: Cluster['status'] = {}): Cluster {
  const c = structuredClone(fixture<{ cluster: Cluster }>(name).cluster);
  return { ...c, status };
}

/** The Clusters of the recorded requests as the apiserver would hold them: initialised, the upgrade's one still on its old control plane, the delete's one being deleted. */
export function recordedClusters(): Cluster[] {
  const initialised = { initialization: { controlPlaneInitialized: true } } as Cluster['status'];
  return [heldCopy('aftercontrolplaneinitialized', initialised)];
}

export type MemoryState = StateSource & {
  labelled: { cluster: string; labels: Record<string, string | null> }[];
  admittedKeys: string[];
  clusters: Cluster[];
};

export function memoryState(over: Partial<MemoryStateOptions> = {}): MemoryState {
  const labelled: MemoryState['labelled'] = [];
  const admittedKeys: string[] = [];
  const clusters = over.clusters ?? recordedClusters();
  return {
    labelled,
    admittedKeys,
    clusters,
    tenancy: () => over.tenancy ?? tenancy(),
    classKinds: () => over.kinds ?? KVM_KINDS,
    heldCluster: async (ref, premise) => {
      const c = clusters.find((x) => x.metadata.namespace === ref.namespace && x.metadata.name === ref.name);
      if (!c || c.metadata.uid !== ref.uid) return { problem: notHeld(ref) };
      const problem = await premise?.(c);
      return problem === undefined ? { cluster: c } : { problem };
    },
    controlPlaneVersion: async () => over.controlPlane ?? { what: 'KamajiControlPlane team-a/prod-x7k2p', spec: 'v1.35.0', status: 'v1.35.0' },
    hookSettings: async () => over.settings,
    admitUpgrade: async (cluster, _version, limit, decide): Promise<RetryResponse> => {
      const res = decide(over.fleet ?? { classRef: 'platform/ironplane-kvm', upgrading: [] });
      if (limit > 0 && res.status === 'Success' && res.retryAfterSeconds === 0) admittedKeys.push(`${cluster.metadata.namespace}/${cluster.metadata.name}`);
      return res;
    },
    release: async () => (typeof over.release === 'function' ? over.release() : (over.release ?? { services: [], machines: [], errors: [] })),
    labelCluster: async (cluster, labels) => {
      if (over.label) await over.label(labels);
      labelled.push({ cluster: `${cluster.metadata.namespace}/${cluster.metadata.name}`, labels });
    },
    notReady: () => undefined,
    start: async () => {},
    stop: async () => {},
  };
}
