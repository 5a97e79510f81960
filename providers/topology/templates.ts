// The template kinds the extension patches and validates, and what they
// share: which API versions we understand, where the holder's Kubernetes
// version comes from, and which Kairos image a machine template gets.
import type { HolderReference, ValidateTopologyRequestItem } from './api.js';
import { formatVersion, imageFor, parseVersion, type KairosImage } from './image.js';
import type { Builtins, Config, Values } from './variables.js';

export const KINDS = {
  // v1alpha1 is served by Kamaji CP provider releases up to v0.15 (CAPI v1.10), v1alpha2 from v0.20 (CAPI v1.13); the fields we patch are the same in both.
  KamajiControlPlaneTemplate: { group: 'controlplane.cluster.x-k8s.io', versions: ['v1alpha1', 'v1alpha2'] },
  KvmClusterTemplate: { group: 'infrastructure.ironplane.dev', versions: ['v1alpha1'] },
  KvmMachineTemplate: { group: 'infrastructure.ironplane.dev', versions: ['v1alpha1'] },
  MetalClusterTemplate: { group: 'infrastructure.ironplane.dev', versions: ['v1alpha1'] },
  MetalMachineTemplate: { group: 'infrastructure.ironplane.dev', versions: ['v1alpha1'] },
  KairosConfigTemplate: { group: 'bootstrap.ironplane.dev', versions: ['v1alpha1'] },
} as const;
export type Kind = keyof typeof KINDS;

/** The template's kind when it is one of ours (group and version checked), an error when only the version is unknown, else undefined. */
export function kindOf(item: ValidateTopologyRequestItem): { kind: Kind } | { error: string } | undefined {
  const kind = item.object.kind;
  if (!kind || !Object.prototype.hasOwnProperty.call(KINDS, kind)) return undefined;
  const spec = KINDS[kind as Kind];
  const [group, version] = (item.object.apiVersion ?? '').split('/');
  if (group !== spec.group) return undefined;
  if (!(spec.versions as readonly string[]).includes(version ?? '')) {
    return { error: `${describe(item)}: ${kind} ${item.object.apiVersion} is not supported (supported: ${spec.versions.map((v) => `${spec.group}/${v}`).join(', ')})` };
  }
  return { kind: kind as Kind };
}

/** "KvmMachineTemplate md-0-infra of MachineDeployment md-0", for messages. */
export function describe(item: { holderReference: HolderReference; object: { kind?: string; metadata?: { name?: string } } }): string {
  const h = item.holderReference;
  return `${item.object.kind ?? 'template'} ${item.object.metadata?.name ?? ''} of ${h.kind} ${h.name}`.replace('  ', ' ');
}

/** The Kubernetes version the holder runs: its MachineDeployment's, the control plane's, else the cluster's. */
export function holderVersion(holder: HolderReference, builtins: Builtins): string | undefined {
  if (holder.kind === 'MachineDeployment') return builtins.machineDeployment?.version ?? builtins.cluster?.topology?.version;
  return builtins.controlPlane?.version ?? builtins.cluster?.topology?.version;
}

/** The Kairos image a machine template gets, or why there is none. */
export function chooseImage(item: ValidateTopologyRequestItem, values: Values, config: Config, builtins: Builtins): KairosImage | string {
  const images = values.kairosImages ?? config.kairosImages;
  if (images.length === 0) return `${describe(item)}: no Kairos image: set the kairosImages variable, or the kairosImages setting of the ClusterClass patch or ExtensionConfig`;
  const raw = holderVersion(item.holderReference, builtins);
  const version = raw ? parseVersion(raw) : undefined;
  if (!version) return `${describe(item)}: cannot tell its Kubernetes version (${JSON.stringify(raw ?? null)}) to choose a Kairos image`;
  const image = imageFor(images, version);
  if (image) return image;
  const offered = [...new Set(images.map((i) => formatVersion(i.kubernetes)))].sort().join(', ');
  return `${describe(item)}: no Kairos image supports Kubernetes ${formatVersion(version)}: the images carry ${offered}; add one tagged k8sv${version.major}.${version.minor}.<patch ≤ ${version.patch}>`;
}
