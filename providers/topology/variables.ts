// The ClusterClass variables the extension defines (DiscoverVariables), and
// their parsing into typed values with exact, deterministic messages.
//
// CAPI validates variable values against these schemas when a Cluster is
// written, so a value that reaches a handler has the right shape. The
// handlers still check every value they use (CAPI's patch guidelines ask it),
// and check what a schema cannot express: host bits in a CIDR, a tag that
// names no Kubernetes version, an address that is not an IP.
import { resolveAllowlists, restrictSchemas, type Allowlists, type Schema } from './allowlists.js';
import type { ClusterClassVariable, JSONSchemaProps, Variable } from './api.js';
import { parseCidr, parseCidrList, parseIp, type Cidr } from './cidr.js';
import { OCI_REFERENCE_PATTERN, parseKairosImage, type KairosImage } from './image.js';
import { DEFAULT_PRIVATE_ENDPOINT_VIP } from './privateendpointvip.js';
import { parseQuantity, QUANTITY_PATTERN } from './quantity.js';

// Defaults. The pod and service ranges are Kamaji's own TenantControlPlane
// defaults (networkProfile.podCidr/serviceCidr), which Kamaji uses when the
// Cluster sets no spec.clusterNetwork: a Cluster that sets neither is consistent.
export const DEFAULT_NODE_CIDR = '10.10.0.0/24';
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';
export const DEFAULT_WORKER_CPU = 2;
export const DEFAULT_WORKER_MEMORY = '4Gi';
export const DEFAULT_GPU_COUNT = 1;
export const DEFAULT_SSH_USER = 'kairos';
export const DEFAULT_ADDON_SET: AddonSet = 'standard';
/** Below this a Kairos node cannot run the kubelet and the add-ons. */
export const MIN_WORKER_MEMORY_BYTES = 2 ** 30;

/** Add-on sets and the components they select; Sveltos ClusterProfiles select clusters by these components' labels. */
export const ADDON_SETS = {
  none: [],
  minimal: ['cni'],
  standard: ['cni', 'csi', 'policies'],
  full: ['cni', 'csi', 'monitoring', 'policies'],
} as const satisfies Record<string, readonly string[]>;
export type AddonSet = keyof typeof ADDON_SETS;
export const ADDON_COMPONENTS = ['cni', 'csi', 'monitoring', 'policies'] as const;
export type AddonComponent = (typeof ADDON_COMPONENTS)[number];
/** Components labelled whatever the chosen set (the mandatoryAddons setting's default): tenants cannot opt out of the baseline policies. */
export const DEFAULT_MANDATORY_ADDONS: readonly AddonComponent[] = ['policies'];

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const QUALIFIED_NAME = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
const LABEL_VALUE = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
const EXTENDED_RESOURCE = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
const SSH_KEY = '^(ssh-|ecdsa-|sk-|github:|gitlab:)[^\\n]*$';
const USER_NAME = '^[a-z_][a-z0-9_-]*$';

const RE = {
  dnsLabel: new RegExp(DNS_LABEL),
  dnsSubdomain: new RegExp(DNS_SUBDOMAIN),
  qualifiedName: new RegExp(QUALIFIED_NAME),
  extendedResource: new RegExp(EXTENDED_RESOURCE),
  sshKey: new RegExp(SSH_KEY),
  userName: new RegExp(USER_NAME),
};

const cidrSchema = (what: string, dflt: string): JSONSchemaProps => ({ type: 'string', format: 'cidr', maxLength: 43, default: dflt, description: what });

/** The variables, as DiscoverVariables returns them. */
export const VARIABLES: readonly ClusterClassVariable[] = [
  {
    name: 'kairosImages',
    required: false,
    schema: {
      openAPIV3Schema: {
        type: 'array',
        minItems: 1,
        maxItems: 16,
        description:
          'Kairos OS images (OCI references) the workers boot, one per Kubernetes version. The tag names the version: it ends with k8sv<major>.<minor>.<patch> (optionally -<build>). Each machine set gets the image with its Kubernetes major.minor and the highest patch not newer than its version, so an upgrade switches images together with the version. When unset, the kairosImages setting of the ClusterClass patch or ExtensionConfig (comma-separated) is used.',
        example: ['quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0'],
        items: { type: 'string', minLength: 1, maxLength: 512, pattern: OCI_REFERENCE_PATTERN },
      },
    },
  },
  {
    name: 'network',
    required: false,
    schema: {
      openAPIV3Schema: {
        type: 'object',
        default: {},
        description:
          "The tenant's address ranges. nodeCIDR is the node Subnet in the tenant's own VPC (tenants may reuse ranges). Kamaji reads the pod and service ranges from the Cluster's spec.clusterNetwork, else uses its defaults (which are these defaults): set both to the same ranges. None may overlap another or the platform's reserved ranges.",
        properties: {
          nodeCIDR: cidrSchema('Node network (KvmCluster spec.network.nodeCIDR).', DEFAULT_NODE_CIDR),
          podCIDR: cidrSchema('Pod network of the tenant cluster.', DEFAULT_POD_CIDR),
          serviceCIDR: cidrSchema('Service network of the tenant cluster.', DEFAULT_SERVICE_CIDR),
        },
      },
    },
  },
  {
    name: 'controlPlane',
    required: false,
    schema: {
      openAPIV3Schema: {
        type: 'object',
        description:
          "The hosted (Kamaji) control plane. Its replica count is Cluster API's own field, Cluster spec.topology.controlPlane.replicas (Kamaji's default is 2).",
        properties: {
          dataStore: {
            type: 'string',
            minLength: 1,
            maxLength: 253,
            pattern: DNS_SUBDOMAIN,
            description: "The Kamaji DataStore holding the tenant's state (kubectl get datastores.kamaji.clastix.io); Kamaji's default DataStore when unset.",
          },
        },
      },
    },
  },
  {
    name: 'workers',
    required: false,
    schema: {
      openAPIV3Schema: {
        type: 'object',
        default: {},
        description: 'Size of each KubeVirt worker VM. Override it per MachineDeployment for machine sets of another size.',
        properties: {
          cpu: { type: 'integer', minimum: 1, maximum: 512, default: DEFAULT_WORKER_CPU, description: 'Virtual CPU cores.' },
          memory: { type: 'string', pattern: QUANTITY_PATTERN, maxLength: 32, default: DEFAULT_WORKER_MEMORY, description: 'Guest memory, at least 1Gi, e.g. 8Gi.' },
        },
      },
    },
  },
  {
    name: 'gpu',
    required: false,
    schema: {
      openAPIV3Schema: {
        type: 'object',
        required: ['model'],
        description: "GPUs passed through to each worker VM of the gpu machine deployment class (the gpuClass setting, default \"gpu\"), or of any MachineDeployment that overrides this variable. Counted against the tenant's Capsule quota requests.<model>.",
        properties: {
          count: { type: 'integer', minimum: 1, maximum: 16, default: DEFAULT_GPU_COUNT, description: 'GPUs per worker.' },
          model: { type: 'string', minLength: 1, maxLength: 253, pattern: EXTENDED_RESOURCE, description: 'The resource name the device plugin advertises, e.g. nvidia.com/GA102GL_A10.' },
        },
      },
    },
  },
  {
    name: 'metal',
    required: false,
    schema: {
      openAPIV3Schema: {
        type: 'object',
        description: 'Which bare-metal hosts serve the workers (Metal3).',
        properties: {
          hostPools: {
            type: 'array',
            maxItems: 16,
            description: 'Shared namespaces of BareMetalHosts the cluster may draw from, besides its own namespace (MetalCluster spec.hostPools); each needs a HostDeployPolicy admitting the cluster namespace.',
            items: { type: 'string', minLength: 1, maxLength: 63, pattern: DNS_LABEL },
          },
          hostSelector: {
            type: 'object',
            description: 'Labels a host must have (MetalMachine spec.hostSelector).',
            properties: {
              matchLabels: { type: 'object', maxProperties: 32, additionalProperties: { type: 'string', maxLength: 63, pattern: LABEL_VALUE } },
              matchExpressions: {
                type: 'array',
                maxItems: 32,
                items: {
                  type: 'object',
                  required: ['key', 'operator'],
                  properties: {
                    key: { type: 'string', minLength: 1, maxLength: 317, pattern: QUALIFIED_NAME },
                    operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
                    values: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 63 } },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
  {
    name: 'addons',
    required: false,
    schema: {
      openAPIV3Schema: {
        type: 'string',
        enum: Object.keys(ADDON_SETS),
        default: DEFAULT_ADDON_SET,
        description:
          'Add-on set installed by Sveltos once the control plane is up: none, minimal (cni), standard (cni, csi, policies) or full (cni, csi, monitoring, policies). The platform\'s mandatory add-ons (the mandatoryAddons setting, default policies) are installed whatever the set. The extension labels the Cluster ironplane.dev/addon-set=<set> and addons.ironplane.dev/<component>=true for the set\'s and the mandatory components.',
      },
    },
  },
  {
    name: 'loadBalancer',
    required: false,
    schema: {
      openAPIV3Schema: {
        type: 'object',
        description: "How the hosted control plane's LoadBalancer Service gets its address: from a load-balancer address pool, or a fixed address.",
        properties: {
          pool: { type: 'string', minLength: 1, maxLength: 63, pattern: DNS_LABEL, description: 'Address pool, set as the annotation named by the loadBalancerPoolAnnotation setting (default metallb.io/address-pool).' },
          address: { type: 'string', minLength: 2, maxLength: 45, description: 'A fixed IP address for the control-plane Service (KamajiControlPlane spec.network.serviceAddress).' },
        },
      },
    },
  },
  {
    name: 'ssh',
    required: false,
    schema: {
      openAPIV3Schema: {
        type: 'object',
        required: ['authorizedKeys'],
        description: 'SSH access to the workers: the keys are added to the user (created with the admin group when the template has no such user).',
        properties: {
          user: { type: 'string', minLength: 1, maxLength: 32, pattern: USER_NAME, default: DEFAULT_SSH_USER },
          authorizedKeys: { type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', minLength: 1, maxLength: 4096, pattern: SSH_KEY }, description: 'OpenSSH public key lines, or github:<user> / gitlab:<user>.' },
        },
      },
    },
  },
];

export interface HostSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Typed variable values, defaults applied. */
export interface Values {
  kairosImages?: KairosImage[];
  network: { nodeCIDR: Cidr; podCIDR: Cidr; serviceCIDR: Cidr };
  /** Which network values the variable set explicitly (not defaults). */
  networkSet: { podCIDR: boolean; serviceCIDR: boolean };
  controlPlane: { dataStore?: string };
  workers: { cpu: number; memory: string; memoryBytes: number };
  gpu?: { count: number; model: string };
  metal: { hostPools?: string[]; hostSelector?: HostSelector };
  addons: AddonSet;
  loadBalancer?: { pool?: string; address?: string };
  ssh?: { user: string; authorizedKeys: string[] };
}

/** The builtin variable, merged from the request and the item (as CAPI's MergeVariableMaps does). */
export interface Builtins {
  cluster?: {
    name?: string;
    namespace?: string;
    topology?: { version?: string; classRef?: { name?: string; namespace?: string } };
    network?: { pods?: string[]; services?: string[]; serviceDomain?: string };
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  };
  controlPlane?: { version?: string; name?: string; replicas?: number };
  machineDeployment?: { version?: string; class?: string; name?: string; topologyName?: string; replicas?: number };
}

export type VariableMap = Map<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Global variables overridden by the item's (per-MachineDeployment overrides); builtin objects merged one level deep. */
export function variableMap(global: readonly Variable[] | undefined, item?: readonly Variable[]): VariableMap {
  const map: VariableMap = new Map();
  for (const list of [global ?? [], item ?? []]) {
    for (const v of list) {
      if (v.name === 'builtin' && isObject(v.value) && isObject(map.get('builtin'))) {
        map.set('builtin', { ...(map.get('builtin') as Record<string, unknown>), ...v.value });
      } else {
        map.set(v.name, v.value);
      }
    }
  }
  return map;
}

export function builtinsOf(map: VariableMap): Builtins {
  const b = map.get('builtin');
  return isObject(b) ? (b as Builtins) : {};
}

const show = (v: unknown): string => JSON.stringify(v) ?? 'undefined';

/** Parses every variable the extension defines; problems name the variable and say what is wrong. */
export function parseValues(map: VariableMap): { values: Values; problems: string[] } {
  const problems: string[] = [];
  const bad = (name: string, msg: string) => problems.push(`variable ${name}: ${msg}`);

  const obj = (name: string): Record<string, unknown> => {
    const v = map.get(name);
    if (v === undefined || v === null) return {};
    if (!isObject(v)) {
      bad(name, `must be an object, got ${show(v)}`);
      return {};
    }
    return v;
  };

  // kairosImages
  let kairosImages: KairosImage[] | undefined;
  const rawImages = map.get('kairosImages');
  if (rawImages !== undefined && rawImages !== null) {
    if (!Array.isArray(rawImages) || rawImages.length === 0) bad('kairosImages', `must be a non-empty list of image references, got ${show(rawImages)}`);
    else {
      kairosImages = [];
      rawImages.forEach((r, i) => {
        const img = typeof r === 'string' ? parseKairosImage(r) : `must be a string, got ${show(r)}`;
        if (typeof img === 'string') bad(`kairosImages[${i}]`, img);
        else kairosImages!.push(img);
      });
    }
  }

  // network
  const net = obj('network');
  const cidr = (key: 'nodeCIDR' | 'podCIDR' | 'serviceCIDR', dflt: string): Cidr => {
    const raw = net[key] ?? dflt;
    const c = typeof raw === 'string' ? parseCidr(raw) : `must be a CIDR string, got ${show(raw)}`;
    if (typeof c === 'string') {
      bad(`network.${key}`, c);
      return parseCidr(dflt) as Cidr;
    }
    return c;
  };
  const network = { nodeCIDR: cidr('nodeCIDR', DEFAULT_NODE_CIDR), podCIDR: cidr('podCIDR', DEFAULT_POD_CIDR), serviceCIDR: cidr('serviceCIDR', DEFAULT_SERVICE_CIDR) };
  const networkSet = { podCIDR: net['podCIDR'] !== undefined, serviceCIDR: net['serviceCIDR'] !== undefined };

  // controlPlane
  const cp = obj('controlPlane');
  const controlPlane: Values['controlPlane'] = {};
  if (cp['dataStore'] !== undefined) {
    const ds = cp['dataStore'];
    if (typeof ds !== 'string' || !RE.dnsSubdomain.test(ds) || ds.length > 253) bad('controlPlane.dataStore', `must be a DataStore name (a DNS subdomain), got ${show(ds)}`);
    else controlPlane.dataStore = ds;
  }

  // workers
  const w = obj('workers');
  let cpu = DEFAULT_WORKER_CPU;
  if (w['cpu'] !== undefined) {
    const c = w['cpu'];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > 512) bad('workers.cpu', `must be an integer from 1 to 512, got ${show(c)}`);
    else cpu = c;
  }
  let memory = DEFAULT_WORKER_MEMORY;
  let memoryBytes = parseQuantity(DEFAULT_WORKER_MEMORY) ?? 0;
  if (w['memory'] !== undefined) {
    const m = w['memory'];
    const bytes = typeof m === 'string' ? parseQuantity(m) : undefined;
    if (typeof m !== 'string' || bytes === undefined) bad('workers.memory', `must be a quantity such as 8Gi, got ${show(m)}`);
    else if (bytes < MIN_WORKER_MEMORY_BYTES) bad('workers.memory', `${m} is less than 1Gi, too little for a Kairos node`);
    else {
      memory = m;
      memoryBytes = bytes;
    }
  }

  // gpu
  let gpu: Values['gpu'];
  if (map.get('gpu') !== undefined && map.get('gpu') !== null) {
    const g = obj('gpu');
    const count = g['count'] ?? DEFAULT_GPU_COUNT;
    const model = g['model'];
    let ok = true;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 16) {
      bad('gpu.count', `must be an integer from 1 to 16, got ${show(count)}`);
      ok = false;
    }
    if (typeof model !== 'string' || !RE.extendedResource.test(model)) {
      bad('gpu.model', `must be a device resource name such as nvidia.com/GA102GL_A10, got ${show(model)}`);
      ok = false;
    }
    if (ok && isObject(map.get('gpu'))) gpu = { count: count as number, model: model as string };
  }

  // metal
  const mt = obj('metal');
  const metal: Values['metal'] = {};
  if (mt['hostPools'] !== undefined) {
    const pools = mt['hostPools'];
    if (!Array.isArray(pools) || pools.some((p) => typeof p !== 'string' || !RE.dnsLabel.test(p))) bad('metal.hostPools', `must be a list of namespace names, got ${show(pools)}`);
    else if (new Set(pools).size !== pools.length) bad('metal.hostPools', `lists a namespace twice: ${show(pools)}`);
    else metal.hostPools = pools as string[];
  }
  if (mt['hostSelector'] !== undefined) {
    const sel = mt['hostSelector'];
    const problem = checkSelector(sel);
    if (problem) bad('metal.hostSelector', problem);
    else metal.hostSelector = sel as HostSelector;
  }

  // addons
  let addons: AddonSet = DEFAULT_ADDON_SET;
  if (map.get('addons') !== undefined) {
    const a = map.get('addons');
    if (typeof a !== 'string' || !(a in ADDON_SETS)) bad('addons', `must be one of ${Object.keys(ADDON_SETS).join(', ')}, got ${show(a)}`);
    else addons = a as AddonSet;
  }

  // loadBalancer
  let loadBalancer: Values['loadBalancer'];
  if (map.get('loadBalancer') !== undefined && map.get('loadBalancer') !== null) {
    const lb = obj('loadBalancer');
    loadBalancer = {};
    if (lb['pool'] !== undefined) {
      const p = lb['pool'];
      if (typeof p !== 'string' || !RE.dnsLabel.test(p) || p.length > 63) bad('loadBalancer.pool', `must be a pool name (a DNS label), got ${show(p)}`);
      else loadBalancer.pool = p;
    }
    if (lb['address'] !== undefined) {
      const a = lb['address'];
      if (typeof a !== 'string' || !parseIp(a)) bad('loadBalancer.address', `must be an IP address, got ${show(a)}`);
      else loadBalancer.address = a;
    }
  }

  // ssh
  let ssh: Values['ssh'];
  if (map.get('ssh') !== undefined && map.get('ssh') !== null) {
    const s = obj('ssh');
    const user = s['user'] ?? DEFAULT_SSH_USER;
    const keys = s['authorizedKeys'];
    let ok = true;
    if (typeof user !== 'string' || !RE.userName.test(user) || user.length > 32) {
      bad('ssh.user', `must be a user name such as kairos, got ${show(user)}`);
      ok = false;
    }
    if (!Array.isArray(keys) || keys.length === 0) {
      bad('ssh.authorizedKeys', `must be a non-empty list of public keys, got ${show(keys)}`);
      ok = false;
    } else {
      keys.forEach((k, i) => {
        if (typeof k !== 'string' || !RE.sshKey.test(k)) {
          bad(`ssh.authorizedKeys[${i}]`, 'is not an OpenSSH public key line (ssh-..., ecdsa-..., sk-...) nor github:<user> / gitlab:<user>');
          ok = false;
        }
      });
    }
    if (ok) ssh = { user: user as string, authorizedKeys: keys as string[] };
  }

  return {
    values: { kairosImages, network, networkSet, controlPlane, workers: { cpu, memory, memoryBytes }, gpu, metal, addons, loadBalancer, ssh },
    problems,
  };
}

function checkSelector(sel: unknown): string | undefined {
  if (!isObject(sel)) return `must be an object with matchLabels and/or matchExpressions, got ${show(sel)}`;
  const ml = sel['matchLabels'];
  if (ml !== undefined && (!isObject(ml) || Object.values(ml).some((v) => typeof v !== 'string'))) return `matchLabels must map label keys to string values, got ${show(ml)}`;
  const me = sel['matchExpressions'];
  if (me === undefined) return undefined;
  if (!Array.isArray(me)) return `matchExpressions must be a list, got ${show(me)}`;
  for (const [i, e] of me.entries()) {
    if (!isObject(e) || typeof e['key'] !== 'string' || typeof e['operator'] !== 'string') return `matchExpressions[${i}] needs a key and an operator`;
    const op = e['operator'];
    const values = e['values'];
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(op)) return `matchExpressions[${i}].operator must be In, NotIn, Exists or DoesNotExist, got ${show(op)}`;
    const n = Array.isArray(values) ? values.length : 0;
    if ((op === 'In' || op === 'NotIn') && n === 0) return `matchExpressions[${i}]: ${op} needs at least one value`;
    if ((op === 'Exists' || op === 'DoesNotExist') && n > 0) return `matchExpressions[${i}]: ${op} takes no values`;
  }
  return undefined;
}

/** Settings: ExtensionConfig spec.settings, overridden by the ClusterClass patch's external.settings. */
export interface BaseConfig {
  /** From --reserved-cidrs. */
  reservedCIDRs: readonly Cidr[];
  /** From --upgrade-concurrency; 0 means no limit. */
  upgradeConcurrency: number;
  /** From --upgrade-retry-seconds: when a Cluster held by the concurrency limit asks again. Default CONCURRENCY_RETRY_SECONDS. */
  upgradeRetrySeconds?: number;
}

export interface Config extends BaseConfig {
  kairosImages: KairosImage[];
  loadBalancerPoolAnnotation: string;
  gpuClass: string;
  /** What tenants' variables may send to shared infrastructure (adr/0008). */
  allow: Allowlists;
  /** Add-on components labelled whatever the chosen set. */
  mandatoryAddons: readonly AddonComponent[];
  /** The private control-plane endpoint's VIP (adr/0014), added to a KubeVirt class's apiserver certSANs; undefined when the setting is `none`. */
  privateEndpointVIP: string | undefined;
}

export const DEFAULT_LB_POOL_ANNOTATION = 'metallb.io/address-pool';
export const DEFAULT_GPU_CLASS = 'gpu';

/** Settings keys read from requests. */
export const SETTINGS = [
  'reservedCIDRs',
  'kairosImages',
  'loadBalancerPoolAnnotation',
  'upgradeConcurrency',
  'gpuClass',
  'mandatoryAddons',
  'privateEndpointVIP',
  'allowedImageRegistries',
  'allowedGPUModels',
  'allowedDataStores',
  'allowedLoadBalancerPools',
  'loadBalancerAddressRanges',
] as const;

function parseImageSetting(s: Record<string, string>, problems: string[]): KairosImage[] {
  const kairosImages: KairosImage[] = [];
  for (const ref of (s['kairosImages'] ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const img = parseKairosImage(ref);
    if (typeof img === 'string') problems.push(`setting kairosImages: ${img}`);
    else kairosImages.push(img);
  }
  return kairosImages;
}

/** The mandatoryAddons setting: comma-separated components; unset means DEFAULT_MANDATORY_ADDONS, empty means none. */
export function resolveMandatoryAddons(settings: Record<string, string> | undefined): { mandatoryAddons: AddonComponent[]; problems: string[] } {
  const raw = settings?.['mandatoryAddons'];
  if (raw === undefined) return { mandatoryAddons: [...DEFAULT_MANDATORY_ADDONS], problems: [] };
  const problems: string[] = [];
  const out = new Set<AddonComponent>();
  for (const c of raw.split(',').map((x) => x.trim()).filter(Boolean)) {
    if ((ADDON_COMPONENTS as readonly string[]).includes(c)) out.add(c as AddonComponent);
    else problems.push(`setting mandatoryAddons: ${show(c)} is not an add-on component (${ADDON_COMPONENTS.join(', ')})`);
  }
  return { mandatoryAddons: ADDON_COMPONENTS.filter((c) => out.has(c)), problems };
}

export function resolveConfig(base: BaseConfig, settings: Record<string, string> | undefined): { config: Config; problems: string[] } {
  const problems: string[] = [];
  const s = settings ?? {};
  const reserved = [...base.reservedCIDRs];
  if (s['reservedCIDRs']) {
    const { cidrs, problems: p } = parseCidrList(s['reservedCIDRs']);
    reserved.push(...cidrs);
    problems.push(...p.map((m) => `setting reservedCIDRs: ${m}`));
  }
  const kairosImages = parseImageSetting(s, problems);
  let upgradeConcurrency = base.upgradeConcurrency;
  if (s['upgradeConcurrency'] !== undefined) {
    const n = Number(s['upgradeConcurrency']);
    if (!Number.isInteger(n) || n < 0) problems.push(`setting upgradeConcurrency: must be a whole number (0 for no limit), got ${show(s['upgradeConcurrency'])}`);
    else upgradeConcurrency = n;
  }
  const annotation = s['loadBalancerPoolAnnotation'] ?? DEFAULT_LB_POOL_ANNOTATION;
  if (!RE.qualifiedName.test(annotation)) problems.push(`setting loadBalancerPoolAnnotation: ${show(annotation)} is not an annotation key`);
  const gpuClass = s['gpuClass'] ?? DEFAULT_GPU_CLASS;
  const { allow, problems: allowProblems } = resolveAllowlists(s, kairosImages);
  problems.push(...allowProblems);
  const { mandatoryAddons, problems: addonProblems } = resolveMandatoryAddons(s);
  problems.push(...addonProblems);
  // The VIP the kubevirt manager serves (its IRONPLANE_CP_VIP, IPv4 as there); `none` on a platform without the private endpoint.
  const vip = s['privateEndpointVIP'] ?? DEFAULT_PRIVATE_ENDPOINT_VIP;
  let privateEndpointVIP: string | undefined;
  if (vip !== 'none') {
    if (parseIp(vip)?.family === 4) privateEndpointVIP = vip;
    else problems.push(`setting privateEndpointVIP: must be an IPv4 address (the kubevirt manager's IRONPLANE_CP_VIP) or none, got ${show(vip)}`);
  }
  return {
    config: {
      reservedCIDRs: dedupe(reserved),
      upgradeConcurrency,
      ...(base.upgradeRetrySeconds !== undefined ? { upgradeRetrySeconds: base.upgradeRetrySeconds } : {}),
      kairosImages,
      loadBalancerPoolAnnotation: annotation,
      gpuClass,
      allow,
      mandatoryAddons,
      privateEndpointVIP,
    },
    problems,
  };
}

/**
 * The variables as DiscoverVariables publishes them for these settings: the
 * allowlists written into the schemas, so that CAPI's Cluster webhook refuses
 * a value outside them; the mandatory add-ons named in the addons variable.
 * Only the settings the schemas depend on are read.
 */
export function variablesFor(settings: Record<string, string> | undefined): { variables: ClusterClassVariable[]; problems: string[] } {
  const problems: string[] = [];
  const s = settings ?? {};
  const kairosImages = parseImageSetting(s, problems);
  const { allow, problems: allowProblems } = resolveAllowlists(s, kairosImages);
  const { mandatoryAddons, problems: addonProblems } = resolveMandatoryAddons(s);
  problems.push(...allowProblems, ...addonProblems);
  const variables = structuredClone([...VARIABLES]);
  const schemas = new Map<string, Schema>(variables.map((v) => [v.name, v.schema.openAPIV3Schema as Schema]));
  restrictSchemas(schemas, allow);
  const addons = schemas.get('addons');
  if (addons) {
    addons.description = mandatoryAddons.length
      ? `${addons.description} Mandatory here: ${mandatoryAddons.join(', ')}.`
      : `${addons.description} Mandatory here: none (the mandatoryAddons setting is empty).`;
  }
  return { variables, problems };
}

function dedupe(cidrs: Cidr[]): Cidr[] {
  const seen = new Set<string>();
  return cidrs.filter((c) => !seen.has(c.text) && !!seen.add(c.text));
}
