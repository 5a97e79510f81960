// What `npm run gen` generates. Each source is a directory of CRD YAML and the
// directory its types and validators go to (which the generator owns).
// Missing CRD directories are skipped, so a source can be listed before its
// CRDs exist.
import type { Source } from './generator.js';

export const sources: readonly Source[] = [
  {
    // Our own API: config/crd is the source of truth.
    name: 'ironplane',
    crdDir: 'config/crd/bases',
    out: 'providers/api/generated/ironplane',
  },
  {
    // CAPI core CRDs copied from the pinned module by `make crds-external`.
    name: 'capi',
    crdDir: 'config/external/capi',
    out: 'providers/api/generated/capi',
    versions: ['v1beta2'],
    // Types for every kind; validators where ajv sits at a boundary
    // (templates, fixtures, hook requests).
    validators: ['Cluster', 'ClusterClass', 'Machine', 'MachineDeployment'],
  },
  {
    // KubeVirt CRDs built from the pinned module by `make crds-external`
    // (hack/tools/kubevirt/crds). v1alpha3 is a deprecated alias of v1.
    name: 'kubevirt',
    crdDir: 'config/external/kubevirt',
    out: 'providers/api/generated/kubevirt',
    versions: ['v1'],
    kinds: ['VirtualMachine', 'VirtualMachineInstance'],
    // We write VirtualMachines; VirtualMachineInstances are only read.
    validators: ['VirtualMachine'],
  },
  {
    // kube-OVN CRDs copied from the pinned module by `make crds-external`.
    name: 'kubeovn',
    crdDir: 'config/external/kube-ovn',
    out: 'providers/api/generated/kubeovn',
    versions: ['v1'],
    kinds: ['Vpc', 'Subnet', 'IP', 'SwitchLBRule', 'OvnEip', 'OvnDnatRule'],
    // The cloud provider writes a SwitchLBRule per load-balancer address, and
    // for a pool on an external network an OvnEip and OvnDnatRules.
    validators: ['Vpc', 'Subnet', 'SwitchLBRule', 'OvnEip', 'OvnDnatRule'],
  },
  {
    // Metal3 baremetal-operator CRDs copied from the pinned module
    // (hack/tools/bmo) by `make crds-external`. Types for every kind.
    name: 'metal3',
    crdDir: 'config/external/metal3',
    out: 'providers/api/generated/metal3',
    versions: ['v1alpha1'],
    // We write BareMetalHosts (fixtures, and spec.image/userData/consumerRef
    // when claiming a host); everything else is only read.
    validators: ['BareMetalHost'],
  },
  {
    // Kamaji CP provider CRDs copied from the pinned module (hack/tools/kamaji)
    // by `make crds-external`. The pinned provider serves v1alpha1 only.
    name: 'kamaji',
    crdDir: 'config/external/kamaji/provider',
    out: 'providers/api/generated/kamaji',
    versions: ['v1alpha1'],
    kinds: ['KamajiControlPlane', 'KamajiControlPlaneTemplate'],
    // ClusterClasses ship KamajiControlPlaneTemplates; KamajiControlPlanes are
    // written by CAPI's topology controller from them.
    validators: ['KamajiControlPlaneTemplate'],
  },
  {
    // Sveltos addon-controller CRDs copied from the pinned module
    // (hack/tools/sveltos) by `make crds-external`.
    name: 'sveltos',
    crdDir: 'config/external/sveltos/addon-controller',
    out: 'providers/api/generated/sveltos',
    versions: ['v1beta1'],
    kinds: ['ClusterProfile'],
    // Add-on ClusterProfiles ship in templates/addons.
    validators: ['ClusterProfile'],
  },
  {
    // Capsule CRDs copied from the pinned module (hack/tools/capsule) by
    // `make crds-external`. v1beta2 is the storage version.
    name: 'capsule',
    crdDir: 'config/external/capsule',
    out: 'providers/api/generated/capsule',
    versions: ['v1beta2'],
    kinds: ['Tenant'],
    // An example Tenant ships with the templates.
    validators: ['Tenant'],
  },
  {
    // Test fixtures: exercise the generator end to end.
    name: 'fixtures',
    crdDir: 'test/fixtures/crds',
    out: 'test/fixtures/generated',
  },
];
