// The kinds the Metal3 provider reads and writes.
import { BareMetalHostResource } from '../api/generated/metal3/v1alpha1/baremetalhost.js';
import { HostDeployPolicyResource } from '../api/generated/metal3/v1alpha1/hostdeploypolicy.js';
import { MetalClusterResource } from '../api/generated/ironplane/v1alpha1/metalcluster.js';
import { MetalMachineResource } from '../api/generated/ironplane/v1alpha1/metalmachine.js';
import { MetalMachineTemplateResource } from '../api/generated/ironplane/v1alpha1/metalmachinetemplate.js';
import type { ResourceType } from '../kit/types.js';

export const MetalClusters: ResourceType = MetalClusterResource;
export const MetalMachines: ResourceType = MetalMachineResource;
export const MetalMachineTemplates: ResourceType = MetalMachineTemplateResource;
export const BareMetalHosts: ResourceType = BareMetalHostResource;
export const HostDeployPolicies: ResourceType = HostDeployPolicyResource;
