// ValidateTopology: called with the templates after every patch is applied.
// Checks the tenant's ranges (sanity, overlap with each other and with the
// platform's reserved ranges, agreement with what Kamaji will use), that a
// Kairos image supports the Kubernetes version of every machine template,
// that every value the variables send to shared infrastructure is in the
// platform's allowlists (again: CAPI's webhook checked the schemas, but a
// request can be forged, adr/0008), that the tenant's GPU quota holds what the topology asks, and that our own
// templates and Kamaji's still match their CRD schemas. The message lists every problem,
// sorted, so it is the same for the same topology.
//
// The pinned CAPI (v1.13) logs a Failure's message and reports "got failure
// response" in the Cluster's TopologyReconciled condition; BeforeClusterCreate
// repeats the range checks so that they reach the condition at creation.
import { validateKairosConfigTemplate } from '../../api/generated/ironplane/v1alpha1/kairosconfigtemplate.js';
import { validateKamajiControlPlaneTemplate } from '../../api/generated/kamaji/v1alpha1/kamajicontrolplanetemplate.js';
import { validateKvmClusterTemplate } from '../../api/generated/ironplane/v1alpha1/kvmclustertemplate.js';
import { validateKvmMachineTemplate } from '../../api/generated/ironplane/v1alpha1/kvmmachinetemplate.js';
import { validateMetalClusterTemplate } from '../../api/generated/ironplane/v1alpha1/metalclustertemplate.js';
import { validateMetalMachineTemplate } from '../../api/generated/ironplane/v1alpha1/metalmachinetemplate.js';
import { formatErrors, type Validator } from '../../api/validate.js';
import { failure, success, type CommonResponse, type ValidateTopologyRequest, type ValidateTopologyResponse } from '../api.js';
import { allowlistCheck, askOf, networkProblems, quotaShortfalls, type Tenancy } from '../checks.js';
import { containsIp, parseCidr, parseIp } from '../cidr.js';
import { itemValues, requestMachineSets } from '../machinesets.js';
import { chooseImage, describe } from '../templates.js';
import { builtinsOf, parseValues, resolveConfig, variableMap, type BaseConfig } from '../variables.js';
import { joinProblems } from './generatepatches.js';

/** Schema checks by apiVersion and kind: ours, and the pinned Kamaji CP provider's (v1alpha1). */
const VALIDATORS: Record<string, Validator<unknown>> = {
  'infrastructure.ironplane.dev/v1alpha1/KvmClusterTemplate': validateKvmClusterTemplate,
  'infrastructure.ironplane.dev/v1alpha1/KvmMachineTemplate': validateKvmMachineTemplate,
  'infrastructure.ironplane.dev/v1alpha1/MetalClusterTemplate': validateMetalClusterTemplate,
  'infrastructure.ironplane.dev/v1alpha1/MetalMachineTemplate': validateMetalMachineTemplate,
  'bootstrap.ironplane.dev/v1alpha1/KairosConfigTemplate': validateKairosConfigTemplate,
  'controlplane.cluster.x-k8s.io/v1alpha1/KamajiControlPlaneTemplate': validateKamajiControlPlaneTemplate,
};

/** The part of a template the schema check looks at: CAPI sends full objects, with server-set metadata. */
function forSchema(obj: ValidateTopologyRequest['items'][number]['object']): unknown {
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata?.name, namespace: obj.metadata?.namespace }, spec: obj.spec };
}

/**
 * tenancy is the cluster's Capsule Tenant as the server sees it (with a
 * problem when the Tenant cannot be read); undefined when the namespace is
 * in no tenant, and then no quota applies.
 */
export function validateTopology(req: ValidateTopologyRequest, base: BaseConfig, tenancy: Tenancy | undefined): ValidateTopologyResponse {
  const { config, problems: settingsProblems } = resolveConfig(base, req.settings);
  // Values cannot be checked against settings that do not parse (the allowlists among them).
  if (settingsProblems.length > 0) return failure('ValidateTopology', joinProblems(settingsProblems)) as CommonResponse;
  const globalMap = variableMap(req.variables);
  const global = parseValues(globalMap);
  const builtins = builtinsOf(globalMap);
  const problems = [...global.problems, ...allowlistCheck(globalMap, config.allow)];
  problems.push(...networkProblems(global.values, config, builtins.cluster?.network));

  for (const item of req.items) {
    const it = itemValues(req.variables, item, global, problems);
    if (!it) continue;
    problems.push(...allowlistCheck(it.map, config.allow, { item, overrides: it.overrides }));
    if (it.kind === 'KvmMachineTemplate' || it.kind === 'MetalMachineTemplate') {
      const image = chooseImage(item, it.values, config, builtinsOf(it.map));
      if (typeof image === 'string') problems.push(image);
    }
    if (it.kind === 'KvmClusterTemplate') {
      // The CRD's CEL rule, which ajv cannot run: the gateway lies in nodeCIDR.
      const net = (item.object.spec?.['template'] as { spec?: { network?: { nodeCIDR?: unknown; gateway?: unknown } } } | undefined)?.spec?.network;
      const cidr = typeof net?.nodeCIDR === 'string' ? parseCidr(net.nodeCIDR) : undefined;
      const gw = typeof net?.gateway === 'string' ? parseIp(net.gateway) : undefined;
      if (cidr && typeof cidr !== 'string' && gw && !containsIp(cidr, gw)) problems.push(`${describe(item)}: network.gateway ${net!.gateway as string} is outside nodeCIDR ${cidr.text}`);
    }
    const validate = VALIDATORS[`${item.object.apiVersion}/${it.kind}`];
    if (validate && !validate(forSchema(item.object))) {
      problems.push(`${describe(item)} does not match its CRD: ${formatErrors(validate.errors).join(', ')}`);
    }
  }

  if (tenancy) {
    const ask = askOf(requestMachineSets(req.variables, req.items, config.gpuClass));
    if (tenancy.problem) {
      // The namespace is a tenant's, but its quota cannot be read: GPUs are not let through unchecked.
      if (Object.values(ask.gpus).some((n) => n > 0)) problems.push(`cannot check the GPUs against the tenant's quota: ${tenancy.problem}`);
    } else {
      const short = quotaShortfalls(ask, tenancy, { gpusOnly: true });
      if (short.length) problems.push(`the GPUs exceed Capsule Tenant ${tenancy.tenant}'s quota: ${short.join(', ')}`);
    }
  }

  if (problems.length > 0) return failure('ValidateTopology', joinProblems(problems)) as CommonResponse;
  return success<ValidateTopologyResponse>('ValidateTopology', {});
}
