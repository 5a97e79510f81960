// What Cluster API core and a bootstrap provider leave behind for an
// infrastructure provider to act on, written by tests that play their part:
// a Cluster pointing at its InfraCluster, and a Machine with its bootstrap
// data Secret pointing at its InfraMachine.
import type { Client } from '../../providers/kit/client.js';
import { Secrets, type KubeObject } from '../../providers/kit/types.js';
import { Clusters, Machines } from '../../providers/capi/contract.js';

type Obj = KubeObject & { spec?: Record<string, unknown> };
const CAPI_V1BETA2 = 'cluster.x-k8s.io/v1beta2';

/** A Cluster whose infrastructureRef names `infraKind`/`name`; returns its uid, for the InfraCluster's ownerReference. */
export async function createCapiCluster(client: Client, ns: string, name: string, infraKind: string): Promise<string> {
  const cluster = await client.create<Obj>(Clusters, {
    metadata: { name, namespace: ns },
    spec: { infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: infraKind, name } },
  });
  return cluster.metadata!.uid!;
}

export interface MachineOptions {
  /** The cloud-config in the bootstrap Secret; null for a Machine whose bootstrap data is not there yet. */
  bootstrap: string | null;
  format?: string;
  failureDomain?: string;
}

/** A Machine (and its bootstrap data Secret) whose infrastructureRef names `infraKind`/`name`; returns its uid. */
export async function createCapiMachine(client: Client, ns: string, cluster: string, name: string, infraKind: string, opts: MachineOptions): Promise<string> {
  const dataSecretName = `${name}-bootstrap`;
  if (opts.bootstrap !== null) {
    await client.create(Secrets, {
      metadata: { name: dataSecretName, namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': cluster } },
      type: 'cluster.x-k8s.io/secret',
      data: { value: Buffer.from(opts.bootstrap).toString('base64'), format: Buffer.from(opts.format ?? 'cloud-config').toString('base64') },
    } as KubeObject);
  }
  const machine = await client.create<Obj>(Machines, {
    metadata: { name, namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': cluster } },
    spec: {
      clusterName: cluster,
      bootstrap: { dataSecretName },
      infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: infraKind, name },
      ...(opts.failureDomain ? { failureDomain: opts.failureDomain } : {}),
    },
  });
  return machine.metadata!.uid!;
}

/** Metadata of an object owned by a CAPI object (Cluster or Machine), labelled with its cluster. */
export function ownedBy(ns: string, name: string, cluster: string, owner: { kind: 'Cluster' | 'Machine'; name: string; uid: string }, extra: { annotations?: Record<string, string> } = {}) {
  return {
    name,
    namespace: ns,
    labels: { 'cluster.x-k8s.io/cluster-name': cluster },
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
    ownerReferences: [{ apiVersion: CAPI_V1BETA2, kind: owner.kind, name: owner.name, uid: owner.uid, ...(owner.kind === 'Machine' ? { controller: true } : {}) }],
  };
}
