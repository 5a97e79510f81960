// The platform's allowlists: what a tenant's topology variables may send to
// shared infrastructure (adr/0008-platform-allowlists.md).
//
// They are extension settings, so only the platform writes them: the
// ExtensionConfig's spec.settings, overridden per key by a ClusterClass
// patch's external.settings (CAPI merges the two into every request, the
// ClusterClass's winning). Tenants create Clusters, never either object.
//
// Each allowlist is enforced twice:
//  - DiscoverVariables writes it into the variable schemas (an enum for
//    names; a CEL rule with a regular expression built from the escaped
//    repository prefixes for images; a CEL rule of CIDR ranges for
//    addresses), so CAPI's own Cluster webhook refuses a value outside it at
//    create and update, before anything is created;
//  - GeneratePatches and ValidateTopology check every value again (a request
//    can be forged, and CAPI skips variable validation while a ClusterClass
//    is being reconciled).
// Pure functions; messages are deterministic.
import type { JSONSchemaProps } from './api.js';
import { containsIp, parseCidrList, parseIp, type Cidr } from './cidr.js';
import type { KairosImage } from './image.js';

/** Settings keys of the allowlists. */
export const ALLOWLIST_SETTINGS = ['allowedImageRegistries', 'allowedGPUModels', 'allowedDataStores', 'allowedLoadBalancerPools', 'loadBalancerAddressRanges'] as const;
export type AllowlistSetting = (typeof ALLOWLIST_SETTINGS)[number];

export interface Allowlists {
  /**
   * Registry/repository prefixes tenants' images may come from, e.g.
   * "quay.io/kairos": matched on path-segment boundaries, so it admits
   * quay.io/kairos/ubuntu:… and quay.io/kairos:…, never quay.io/kairos-evil/….
   */
  imageRepositories: readonly string[];
  /** Where imageRepositories came from: the setting, or the repositories of the kairosImages setting when it is unset. */
  imageRepositoriesFrom: 'allowedImageRegistries' | 'kairosImages';
  gpuModels: readonly string[];
  dataStores: readonly string[];
  loadBalancerPools: readonly string[];
  loadBalancerAddressRanges: readonly Cidr[];
}

/** Lists longer than this would not fit CAPI's ClusterClass status (enum maxItems 100). */
export const MAX_ALLOWED = 100;
/** CAPI's limit on a variable schema's CEL rule (x-kubernetes-validations[].rule maxLength). */
export const MAX_RULE_LENGTH = 4096;
/** CAPI's limit on a CEL rule's message (x-kubernetes-validations[].message maxLength). */
export const MAX_MESSAGE_LENGTH = 512;
/** CAPI's limit on a schema's description. */
export const MAX_DESCRIPTION_LENGTH = 4096;

// Grammar of an OCI reference (distribution/reference), as image.ts uses it.
const HOST_LABEL = '[a-z0-9]([a-z0-9-]*[a-z0-9])?';
const HOST = `${HOST_LABEL}(\\.${HOST_LABEL})*`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = '@sha256:[a-f0-9]{64}';
/** A prefix: a registry host (with a dot, a port or "localhost", so it cannot be read as a Docker Hub path), then whole path components. */
const PREFIX = new RegExp(`^(?<host>${HOST})(?<port>:[0-9]{1,5})?(/${PATH_COMPONENT})*$`);

// The names' own grammars, as the variables' schemas have them.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const EXTENDED_RESOURCE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

const show = (v: unknown): string => JSON.stringify(v) ?? 'undefined';
const split = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean);
const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether a prefix names only a registry (no repository path): then at least one path component must follow it. */
const registryOnly = (prefix: string): boolean => !prefix.includes('/');

/** Why a prefix is unusable, or undefined. */
function prefixProblem(p: string): string | undefined {
  const m = PREFIX.exec(p);
  const host = m?.groups?.['host'] ?? '';
  if (!m || p.length > 255) return `${show(p)} is not a registry or repository prefix: write host[:port][/path] in lowercase, without a scheme, e.g. quay.io/kairos`;
  if (!host.includes('.') && !m.groups?.['port'] && host !== 'localhost') return `${show(p)} does not start with a registry host (one with a dot or a port, or localhost): write the registry, e.g. docker.io/${p}`;
  return undefined;
}

/** The repository of an image reference (without tag and digest) when it names its registry, e.g. quay.io/kairos/ubuntu. */
export function repositoryOf(ref: string): string | undefined {
  const noDigest = ref.split('@')[0] ?? ref;
  const colon = noDigest.lastIndexOf(':');
  const repo = colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
  return prefixProblem(repo) === undefined ? repo : undefined;
}

/**
 * The regular expression (RE2 and ECMAScript alike) an image reference must
 * match to lie under one of the prefixes: the escaped prefix, then whole path
 * components, a tag and an optional digest. Undefined when there are none.
 */
export function imagePattern(prefixes: readonly string[]): string | undefined {
  if (prefixes.length === 0) return undefined;
  const alt = (ps: readonly string[]) => ps.map(escapeRegExp).join('|');
  const hosts = prefixes.filter(registryOnly);
  const repos = prefixes.filter((p) => !registryOnly(p));
  const branches = [...(hosts.length ? [`(?:${alt(hosts)})(?:/${PATH_COMPONENT})+`] : []), ...(repos.length ? [`(?:${alt(repos)})(?:/${PATH_COMPONENT})*`] : [])];
  return `^(?:${branches.join('|')}):${TAG}(?:${DIGEST})?$`;
}

/** Reads the allowlists from the merged settings; `kairosImages` is the parsed kairosImages setting (the images' repositories are the default). */
export function resolveAllowlists(settings: Record<string, string> | undefined, kairosImages: readonly KairosImage[]): { allow: Allowlists; problems: string[] } {
  const s = settings ?? {};
  const problems: string[] = [];
  const bad = (key: AllowlistSetting, msg: string) => problems.push(`setting ${key}: ${msg}`);
  const list = (key: AllowlistSetting, valid: (x: string) => string | undefined): string[] => {
    const raw = s[key];
    if (raw === undefined) return [];
    const out: string[] = [];
    for (const x of split(raw)) {
      const p = valid(x);
      if (p) bad(key, p);
      else if (!out.includes(x)) out.push(x);
    }
    if (out.length > MAX_ALLOWED) bad(key, `lists ${out.length} entries, at most ${MAX_ALLOWED} fit a variable's schema`);
    return out.sort();
  };

  let imageRepositories: string[];
  let imageRepositoriesFrom: Allowlists['imageRepositoriesFrom'] = 'allowedImageRegistries';
  if (s['allowedImageRegistries'] !== undefined) {
    // A trailing "/" only restates the segment boundary.
    imageRepositories = list('allowedImageRegistries', (x) => prefixProblem(x.replace(/\/$/, ''))).map((x) => x.replace(/\/$/, ''));
    imageRepositories = [...new Set(imageRepositories)];
  } else {
    imageRepositoriesFrom = 'kairosImages';
    imageRepositories = [...new Set(kairosImages.map((i) => repositoryOf(i.ref)).filter((r): r is string => r !== undefined))].sort();
  }
  const rule = imageRule(imageRepositories);
  if (rule.length > MAX_RULE_LENGTH) bad('allowedImageRegistries', `the schema rule it makes is ${rule.length} characters long, CAPI allows ${MAX_RULE_LENGTH}: list fewer, shorter prefixes`);

  const gpuModels = list('allowedGPUModels', (x) => (EXTENDED_RESOURCE.test(x) && x.length <= 253 ? undefined : `${show(x)} is not a device resource name such as nvidia.com/GA102GL_A10`));
  const dataStores = list('allowedDataStores', (x) => (DNS_SUBDOMAIN.test(x) && x.length <= 253 ? undefined : `${show(x)} is not a DataStore name (a DNS subdomain)`));
  const loadBalancerPools = list('allowedLoadBalancerPools', (x) => (DNS_LABEL.test(x) && x.length <= 63 ? undefined : `${show(x)} is not a pool name (a DNS label)`));
  let loadBalancerAddressRanges: Cidr[] = [];
  if (s['loadBalancerAddressRanges'] !== undefined) {
    const { cidrs, problems: p } = parseCidrList(s['loadBalancerAddressRanges']);
    p.forEach((m) => bad('loadBalancerAddressRanges', m));
    const seen = new Set<string>();
    loadBalancerAddressRanges = cidrs.filter((c) => !seen.has(c.text) && !!seen.add(c.text));
    if (loadBalancerAddressRanges.length > MAX_ALLOWED) bad('loadBalancerAddressRanges', `lists ${loadBalancerAddressRanges.length} ranges, at most ${MAX_ALLOWED} fit a variable's schema`);
  }
  return { allow: { imageRepositories, imageRepositoriesFrom, gpuModels, dataStores, loadBalancerPools, loadBalancerAddressRanges }, problems };
}

// ------------------------------------------------------------------ messages

/** "(a, b)", or why nothing is allowed; the same words in the schemas' messages and the handlers'. */
export function allowedText(values: readonly string[], setting: string): string {
  return values.length ? `(${values.join(', ')})` : `(none: the platform's ${setting} setting allows none)`;
}

const imageAllowedText = (allow: Allowlists): string =>
  allow.imageRepositories.length || allow.imageRepositoriesFrom === 'allowedImageRegistries'
    ? allowedText(allow.imageRepositories, 'allowedImageRegistries')
    : "(none: the platform sets neither allowedImageRegistries nor a kairosImages setting whose repositories would be allowed)";

export const MESSAGES = {
  image: (allow: Allowlists) => `must be an image of a repository the platform allows ${imageAllowedText(allow)}`,
  gpuModel: (allow: Allowlists) => `must be a GPU model the platform allows ${allowedText(allow.gpuModels, 'allowedGPUModels')}`,
  dataStore: (allow: Allowlists) => `must be a DataStore the platform allows ${allowedText(allow.dataStores, 'allowedDataStores')}`,
  pool: (allow: Allowlists) => `must be an address pool the platform allows ${allowedText(allow.loadBalancerPools, 'allowedLoadBalancerPools')}`,
  address: (allow: Allowlists) => `must be an address in a range the platform allows ${allowedText(allow.loadBalancerAddressRanges.map((c) => c.text), 'loadBalancerAddressRanges')}`,
};

/** Cut to one of CAPI's limits (a rule's message, a description); the handlers' own messages are never cut. */
const fit = (m: string, max = MAX_MESSAGE_LENGTH): string => (m.length <= max ? m : `${m.slice(0, max - 2)} …`);

// ------------------------------------------------------------------ checks

/** What a variable value asks, read from the raw variable map (a value of the wrong type is parseValues' to report). */
export interface Asked {
  get(name: string): unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every tenant-set value outside the allowlists, each as
 * `variable <field>: must be … the platform allows (<allowed>), got "<value>"`.
 * Only what the variables set is checked: the kairosImages setting and the
 * ClusterClass's templates are the platform's own.
 */
export function allowlistProblems(vars: Asked, allow: Allowlists): string[] {
  const problems: string[] = [];
  const bad = (field: string, msg: string, got: string) => problems.push(`variable ${field}: ${msg}, got ${show(got)}`);

  const images = vars.get('kairosImages');
  if (Array.isArray(images)) {
    const re = imagePattern(allow.imageRepositories);
    const matcher = re ? new RegExp(re) : undefined;
    images.forEach((ref, i) => {
      if (typeof ref === 'string' && !matcher?.test(ref)) bad(`kairosImages[${i}]`, MESSAGES.image(allow), ref);
    });
  }
  const gpu = vars.get('gpu');
  if (isObject(gpu) && typeof gpu['model'] === 'string' && !allow.gpuModels.includes(gpu['model'])) bad('gpu.model', MESSAGES.gpuModel(allow), gpu['model']);
  const cp = vars.get('controlPlane');
  if (isObject(cp) && typeof cp['dataStore'] === 'string' && !allow.dataStores.includes(cp['dataStore'])) bad('controlPlane.dataStore', MESSAGES.dataStore(allow), cp['dataStore']);
  const lb = vars.get('loadBalancer');
  if (isObject(lb)) {
    if (typeof lb['pool'] === 'string' && !allow.loadBalancerPools.includes(lb['pool'])) bad('loadBalancer.pool', MESSAGES.pool(allow), lb['pool']);
    const address = lb['address'];
    if (typeof address === 'string') {
      const ip = parseIp(address);
      // A value that is no address is parseValues' to report; one that is must lie in a range.
      if (ip && !allow.loadBalancerAddressRanges.some((c) => containsIp(c, ip))) bad('loadBalancer.address', MESSAGES.address(allow), address);
    }
  }
  return problems;
}

// ------------------------------------------------------------------ schemas

/** A CAPI validation rule (x-kubernetes-validations), which api.ts's subset of JSONSchemaProps does not carry. */
export interface ValidationRule {
  rule: string;
  message: string;
}

/** JSONSchemaProps with CEL rules, assignable to the api.ts subset. */
export interface Schema extends JSONSchemaProps {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  'x-kubernetes-validations'?: ValidationRule[];
}

/** A CEL string literal: raw, so a regular expression's backslashes stay as they are (prefixes hold no quotes). */
const celRaw = (s: string): string => `r'${s}'`;

/** The CEL rule an image item must pass: `self.matches(<pattern>)`, or `false` when nothing is allowed. */
export function imageRule(prefixes: readonly string[]): string {
  const re = imagePattern(prefixes);
  return re ? `self.matches(${celRaw(re)})` : 'false';
}

/** The CEL rule an address must pass: inside one of the ranges (Kubernetes' CEL IP and CIDR library). */
export function addressRule(ranges: readonly Cidr[]): string {
  if (ranges.length === 0) return 'false';
  return `isIP(self) && (${ranges.map((c) => `cidr('${c.text}').containsIP(self)`).join(' || ')})`;
}

const never = (message: string): ValidationRule[] => [{ rule: 'false', message: fit(message) }];

/** A name field restricted to a list: an enum, or a rule no value passes when the list is empty. */
function restrictName(s: Schema, allowed: readonly string[], message: string): void {
  if (allowed.length) s.enum = [...allowed];
  else s['x-kubernetes-validations'] = never(message);
}

/** Appends what the platform allows to a field's description, e.g. "Allowed here (setting allowedGPUModels): nvidia.com/GA102GL_A10." */
const describeAllowed = (s: Schema, setting: string, values: readonly string[]): void => {
  s.description = fit(`${s.description ?? ''} Allowed here (setting ${setting}): ${values.length ? values.join(', ') : 'none'}.`.trim(), MAX_DESCRIPTION_LENGTH);
};

/**
 * The variable schemas restricted to the allowlists. `schemas` maps a
 * variable's name to its schema (a copy, changed in place).
 */
export function restrictSchemas(schemas: Map<string, Schema>, allow: Allowlists): void {
  const images = schemas.get('kairosImages');
  if (images?.items) {
    images.items['x-kubernetes-validations'] = [{ rule: imageRule(allow.imageRepositories), message: fit(MESSAGES.image(allow)) }];
    describeAllowed(images, allow.imageRepositoriesFrom === 'kairosImages' ? 'allowedImageRegistries, unset: the repositories of the kairosImages setting' : 'allowedImageRegistries', allow.imageRepositories);
  }
  const model = schemas.get('gpu')?.properties?.['model'];
  if (model) {
    restrictName(model, allow.gpuModels, MESSAGES.gpuModel(allow));
    describeAllowed(model, 'allowedGPUModels', allow.gpuModels);
  }
  const dataStore = schemas.get('controlPlane')?.properties?.['dataStore'];
  if (dataStore) {
    restrictName(dataStore, allow.dataStores, MESSAGES.dataStore(allow));
    describeAllowed(dataStore, 'allowedDataStores', allow.dataStores);
  }
  const pool = schemas.get('loadBalancer')?.properties?.['pool'];
  if (pool) {
    restrictName(pool, allow.loadBalancerPools, MESSAGES.pool(allow));
    describeAllowed(pool, 'allowedLoadBalancerPools', allow.loadBalancerPools);
  }
  const address = schemas.get('loadBalancer')?.properties?.['address'];
  if (address) {
    address['x-kubernetes-validations'] = [{ rule: addressRule(allow.loadBalancerAddressRanges), message: fit(MESSAGES.address(allow)) }];
    describeAllowed(address, 'loadBalancerAddressRanges', allow.loadBalancerAddressRanges.map((c) => c.text));
  }
}
