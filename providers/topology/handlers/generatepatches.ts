// GeneratePatches: one JSON patch per template that needs a change, touching
// only spec.template.spec. The pinned CAPI keeps nothing else of a patched
// template: engine.go applyPatchToRequest copies back only the template's
// "spec", and patchObject/patchTemplate copy only spec.template.spec into the
// objects (for the control plane, spec.replicas and spec.version stay the
// topology's own). Templates of kinds we do not know get no patch.
//
// No value leaves the allowlists (adr/0008): an image, GPU model, DataStore,
// pool or address outside them fails the whole request, so nothing is
// patched with it even when CAPI's own schema check was skipped.
//
// A KubeVirt class's control plane also serves its tenant's private endpoint
// (adr/0014): workers join through https://<VIP>:6443, so the VIP (the
// privateEndpointVIP setting) is added to the KamajiControlPlaneTemplate's
// network.certSANs, which the Kamaji CP provider copies to the
// TenantControlPlane and Kamaji into the apiserver's certificate. Which class
// a request is for is read from its items: CAPI's patch engine (createRequest)
// puts the class's infrastructure cluster template in every request, so a
// request holding a KvmClusterTemplate is for a KubeVirt class, one holding a
// MetalClusterTemplate is not (metal machines reach the control plane at its
// public endpoint).
import { failure, success, type GeneratePatchesRequest, type GeneratePatchesRequestItem, type GeneratePatchesResponse, type GeneratePatchesResponseItem } from '../api.js';
import { allowlistCheck } from '../checks.js';
import { containsIp, parseIp } from '../cidr.js';
import { withScheme } from '../image.js';
import { PatchBuilder } from '../jsonpatch.js';
import { gpuApplies, itemValues } from '../machinesets.js';
import { chooseImage, describe, kindOf, type Kind } from '../templates.js';
import { builtinsOf, parseValues, resolveConfig, variableMap, type BaseConfig, type Builtins, type Config, type Values } from '../variables.js';

/** Where every patch goes: the only part of a template CAPI keeps. */
export const SPEC = ['spec', 'template', 'spec'] as const;

interface ItemContext {
  item: GeneratePatchesRequestItem;
  /** The request holds a KvmClusterTemplate: the class runs KubeVirt workers in tenant VPCs. */
  kubevirt: boolean;
  values: Values;
  config: Config;
  builtins: Builtins;
  overrides: ReadonlySet<string>;
  problems: string[];
}

type Patcher = (b: PatchBuilder, ctx: ItemContext) => void;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const PATCHERS: Record<Kind, Patcher> = {
  KamajiControlPlaneTemplate(b, { values, config, kubevirt }) {
    if (values.controlPlane.dataStore) b.set([...SPEC, 'dataStoreName'], values.controlPlane.dataStore);
    const lb = values.loadBalancer;
    if (lb && (lb.pool || lb.address)) {
      b.set([...SPEC, 'network', 'serviceType'], 'LoadBalancer');
      if (lb.pool) b.set([...SPEC, 'network', 'serviceAnnotations', config.loadBalancerPoolAnnotation], lb.pool);
      if (lb.address) b.set([...SPEC, 'network', 'serviceAddress'], lb.address);
    }
    const vip = config.privateEndpointVIP;
    if (kubevirt && vip) {
      // Appended: the class's own SANs (a public name of the platform) stay.
      const sans = b.get([...SPEC, 'network', 'certSANs']);
      const list = Array.isArray(sans) ? (sans as unknown[]) : [];
      if (!list.includes(vip)) b.set([...SPEC, 'network', 'certSANs'], [...list, vip]);
    }
  },

  KvmClusterTemplate(b, { item, values, problems }) {
    const cidr = values.network.nodeCIDR;
    b.set([...SPEC, 'network', 'nodeCIDR'], cidr.text);
    // The CRD requires a gateway inside nodeCIDR; a class-wide gateway outside
    // the tenant's range would make every KvmCluster invalid.
    const gw = b.get([...SPEC, 'network', 'gateway']);
    const ip = typeof gw === 'string' ? parseIp(gw) : undefined;
    if (ip && !containsIp(cidr, ip)) problems.push(`${describe(item)}: its network.gateway ${gw as string} is outside network.nodeCIDR ${cidr.text}: remove the gateway from the template (kube-OVN then uses the first address)`);
  },

  KvmMachineTemplate(b, ctx) {
    const { item, values, builtins, overrides, config } = ctx;
    const image = chooseImage(item, values, config, builtins);
    if (typeof image === 'string') ctx.problems.push(image);
    else if (isObject(b.get([...SPEC, 'image', 'dataVolume']))) {
      // A DataVolume imports the OCI image through CDI's registry source.
      b.set([...SPEC, 'image', 'dataVolume', 'source'], { registry: { url: withScheme('docker', image.ref) } });
    } else {
      b.set([...SPEC, 'image', 'containerDisk', 'image'], image.ref);
    }
    if (item.holderReference.kind !== 'MachineDeployment') return;
    b.set([...SPEC, 'cpu'], { cores: values.workers.cpu, sockets: 1, threads: 1 });
    b.set([...SPEC, 'memory'], values.workers.memory);
    if (values.gpu && gpuApplies(builtins.machineDeployment?.class, overrides, config.gpuClass)) {
      const { count, model } = values.gpu;
      b.set([...SPEC, 'gpus'], Array.from({ length: count }, (_, i) => ({ name: `gpu${i}`, deviceName: model })));
    }
  },

  MetalClusterTemplate(b, { values }) {
    if (values.metal.hostPools) b.set([...SPEC, 'hostPools'], values.metal.hostPools.map((namespace) => ({ namespace })));
  },

  MetalMachineTemplate(b, ctx) {
    const image = chooseImage(ctx.item, ctx.values, ctx.config, ctx.builtins);
    // An oci:// image carries its own digest: a checksum or format of an earlier URL would be wrong.
    if (typeof image === 'string') ctx.problems.push(image);
    else b.set([...SPEC, 'image'], { url: withScheme('oci', image.ref) });
    if (ctx.item.holderReference.kind === 'MachineDeployment' && ctx.values.metal.hostSelector) b.set([...SPEC, 'hostSelector'], ctx.values.metal.hostSelector);
  },

  KairosConfigTemplate(b, { values }) {
    if (!values.ssh) return;
    const { user, authorizedKeys } = values.ssh;
    const users = b.get([...SPEC, 'users']);
    const list = Array.isArray(users) ? (users as unknown[]) : [];
    const at = list.findIndex((u) => isObject(u) && u['name'] === user);
    if (at >= 0) b.set([...SPEC, 'users', at, 'sshAuthorizedKeys'], authorizedKeys);
    else b.set([...SPEC, 'users'], [...list, { name: user, groups: ['admin'], sshAuthorizedKeys: authorizedKeys }]);
  },
};

/** Problems sorted and deduplicated, joined for one deterministic message. */
export const joinProblems = (problems: readonly string[]): string => [...new Set(problems)].sort().join('; ');

export function generatePatches(req: GeneratePatchesRequest, base: BaseConfig): GeneratePatchesResponse {
  const { config, problems: settingsProblems } = resolveConfig(base, req.settings);
  // Values cannot be checked against settings that do not parse (the allowlists among them).
  if (settingsProblems.length > 0) return failure('GeneratePatches', joinProblems(settingsProblems)) as GeneratePatchesResponse;
  const globalMap = variableMap(req.variables);
  const global = parseValues(globalMap);
  const problems = [...global.problems, ...allowlistCheck(globalMap, config.allow)];
  const items: GeneratePatchesResponseItem[] = [];
  const kubevirt = req.items.some((item) => {
    const known = kindOf(item);
    return known !== undefined && 'kind' in known && known.kind === 'KvmClusterTemplate';
  });
  for (const item of req.items) {
    const it = itemValues(req.variables, item, global, problems);
    if (!it) continue;
    problems.push(...allowlistCheck(it.map, config.allow, { item, overrides: it.overrides }));
    const b = new PatchBuilder(item.object as Record<string, unknown>);
    PATCHERS[it.kind](b, { item, kubevirt, values: it.values, config, builtins: builtinsOf(it.map), overrides: it.overrides, problems });
    if (b.ops.length > 0) items.push({ uid: item.uid, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(b.ops)).toString('base64') });
  }
  if (problems.length > 0) return failure('GeneratePatches', joinProblems(problems)) as GeneratePatchesResponse;
  return success<GeneratePatchesResponse>('GeneratePatches', { items });
}
