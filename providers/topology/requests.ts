// The Runtime SDK request schemas of the hooks we serve, checked as a whole
// before a handler sees a request: a malformed request is a Failure naming
// the field (ajv's instancePath), never an exception inside a handler.
//
// The schemas follow the json tags and kubebuilder markers of the pinned
// CAPI's api/runtime/hooks/v1alpha1 (common_types.go, discovery_types.go,
// topologymutation_types.go, lifecyclehooks_types.go): required fields are
// required, optional lists are absent rather than null (Go omits empty ones),
// and the embedded Cluster is checked against the v1beta2 Cluster CRD schema
// (the generated validator) after the envelope. Free-form parts (variable
// values, template objects, the Cluster itself) are bounded by one recursive
// schema: array lengths, string sizes and object sizes. Nesting depth is
// checked on the body's bytes before it is parsed, so that neither
// JSON.parse, ajv's recursive code nor a handler walks a pathological
// document.
//
// The bounds are far above what CAPI sends for any topology it accepts
// (the Cluster CRD caps topology variables at 1000 and MachineDeployments at
// 2000) and far below what would hold the extension's thread.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { validateCluster } from '../api/generated/capi/v1beta2/cluster.js';
import { formatErrors } from '../api/validate.js';
import type { HookName } from './api.js';

/** Deepest nesting of objects and arrays accepted anywhere in a request. */
export const MAX_DEPTH = 64;
/** Longest list in a free-form part (a variable's value, a template, the Cluster). */
export const MAX_ARRAY_ITEMS = 1000;
/** Most keys of one object in a free-form part. */
export const MAX_OBJECT_KEYS = 1000;
/** Longest string in a free-form part: Kubernetes' limit on all annotations of an object. */
export const MAX_STRING_BYTES = 256 * 1024;
/** Most variables in one list: the Cluster CRD's maxItems for topology variables. */
export const MAX_VARIABLES = 1000;
/** Most GeneratePatches / ValidateTopology items: two templates for each of the CRD's 2000 MachineDeployments, the cluster's own, and room for MachinePools. */
export const MAX_ITEMS = 8192;
/** Most settings: a few are used, CAPI passes the ExtensionConfig's. */
export const MAX_SETTINGS = 100;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * Whether JSON text nests objects and arrays deeper than `max`, read from
 * the bytes before anything is parsed: one pass, no allocation, so a body of
 * brackets costs a scan, not a parse (V8 parses a million levels, slowly).
 * Malformed text is JSON.parse's to report; this only counts brackets
 * outside strings.
 */
export function nestsDeeper(text: Uint8Array, max: number = MAX_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const b = text[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) depth--;
  }
  return false;
}

/**
 * Where JSON text first nests deeper than `max`, as a JSON pointer to the
 * first container past the limit ("/variables/9/value/a/…"); undefined when
 * it does not. Slower than nestsDeeper (it decodes keys), so it runs only
 * once that has found a body too deep, and stops at the offending bracket.
 */
export function deepestPath(text: Uint8Array, max: number = MAX_DEPTH): string | undefined {
  interface Level {
    array: boolean;
    key: string;
    index: number;
    expectKey: boolean;
  }
  const stack: Level[] = [];
  let stringStart = -1;
  for (let i = 0; i < text.length; i++) {
    const b = text[i]!;
    if (stringStart >= 0) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) {
        const top = stack[stack.length - 1];
        if (top && !top.array && top.expectKey) {
          try {
            top.key = JSON.parse(Buffer.from(text.subarray(stringStart, i + 1)).toString('utf8')) as string;
          } catch {
            top.key = '?';
          }
        }
        stringStart = -1;
      }
      continue;
    }
    const top = stack[stack.length - 1];
    if (b === QUOTE) stringStart = i;
    else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      if (stack.length + 1 > max) {
        const keys = stack.map((l) => (l.array ? String(l.index) : l.key));
        return `/${keys.map((k) => k.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
      }
      stack.push({ array: b === OPEN_ARRAY, key: '', index: 0, expectKey: b === OPEN_OBJECT });
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) stack.pop();
    else if (b === COMMA && top) {
      if (top.array) top.index++;
      else top.expectKey = true;
    } else if (b === COLON && top) top.expectKey = false;
  }
  return undefined;
}

const API_VERSION = { const: 'hooks.runtime.cluster.x-k8s.io/v1alpha1' };
const NAME = { type: 'string', maxLength: 253 };

/** The request schemas, one per kind, sharing $defs. */
const SCHEMA = {
  $id: 'runtime-hooks-requests',
  $defs: {
    // Any JSON, bounded. Keywords apply only to their own type, so this one
    // schema bounds strings, lists and objects at every level beneath it.
    value: {
      maxLength: MAX_STRING_BYTES,
      maxItems: MAX_ARRAY_ITEMS,
      maxProperties: MAX_OBJECT_KEYS,
      items: { $ref: '#/$defs/value' },
      additionalProperties: { $ref: '#/$defs/value' },
    },
    settings: { type: 'object', maxProperties: MAX_SETTINGS, additionalProperties: { type: 'string', maxLength: 64 * 1024 } },
    variable: {
      type: 'object',
      required: ['name', 'value'],
      properties: { name: { type: 'string', minLength: 1, maxLength: 256 }, value: { $ref: '#/$defs/value' } },
    },
    variables: { type: 'array', maxItems: MAX_VARIABLES, items: { $ref: '#/$defs/variable' } },
    holderReference: {
      type: 'object',
      required: ['apiVersion', 'kind', 'namespace', 'name', 'fieldPath'],
      properties: { apiVersion: NAME, kind: { type: 'string', minLength: 1, maxLength: 63 }, namespace: { type: 'string', maxLength: 63 }, name: NAME, fieldPath: { type: 'string', maxLength: 1024 } },
    },
    template: {
      allOf: [{ $ref: '#/$defs/value' }],
      type: 'object',
      required: ['apiVersion', 'kind'],
      properties: { apiVersion: NAME, kind: { type: 'string', minLength: 1, maxLength: 63 }, metadata: { type: 'object' }, spec: { type: 'object' } },
    },
    item: {
      type: 'object',
      required: ['holderReference', 'object'],
      properties: { holderReference: { $ref: '#/$defs/holderReference' }, object: { $ref: '#/$defs/template' }, variables: { $ref: '#/$defs/variables' } },
    },
    // The envelope of the Cluster; the CRD schema checks the rest afterwards.
    cluster: {
      allOf: [{ $ref: '#/$defs/value' }],
      type: 'object',
      required: ['metadata', 'spec'],
      properties: {
        apiVersion: { const: 'cluster.x-k8s.io/v1beta2' },
        kind: { const: 'Cluster' },
        metadata: {
          type: 'object',
          required: ['name', 'namespace', 'uid'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 63 }, namespace: { type: 'string', minLength: 1, maxLength: 63 }, uid: { type: 'string', minLength: 1, maxLength: 128 } },
        },
        spec: {
          type: 'object',
          properties: {
            topology: {
              type: 'object',
              properties: {
                variables: { $ref: '#/$defs/variables' },
                workers: {
                  type: 'object',
                  properties: {
                    machineDeployments: { type: 'array', items: { type: 'object', properties: { variables: { type: 'object', properties: { overrides: { $ref: '#/$defs/variables' } } } } } },
                  },
                },
              },
            },
          },
        },
      },
    },
    upgradeSteps: { type: 'array', maxItems: 100, items: { type: 'object', required: ['version'], properties: { version: { type: 'string', minLength: 1, maxLength: 64 } } } },
  },
};

const common = (kind: string, extra: { required?: string[]; properties?: Record<string, unknown> } = {}) => ({
  type: 'object',
  required: ['apiVersion', 'kind', ...(extra.required ?? [])],
  properties: { apiVersion: API_VERSION, kind: { const: kind }, settings: { $ref: 'runtime-hooks-requests#/$defs/settings' }, ...extra.properties },
});

const ref = (def: string) => ({ $ref: `runtime-hooks-requests#/$defs/${def}` });
const itemsRequest = (kind: string, withUid: boolean) =>
  common(kind, {
    required: ['items'],
    properties: {
      variables: ref('variables'),
      items: {
        type: 'array',
        maxItems: MAX_ITEMS,
        items: withUid ? { allOf: [ref('item'), { required: ['uid'], properties: { uid: { type: 'string', minLength: 1, maxLength: 128 } } }] } : ref('item'),
      },
    },
  });
const clusterRequest = (kind: string, extra: Record<string, unknown> = {}, required: string[] = []) => common(kind, { required: ['cluster', ...required], properties: { cluster: ref('cluster'), ...extra } });

const REQUESTS: Record<HookName, object> = {
  Discovery: common('DiscoveryRequest'),
  DiscoverVariables: common('DiscoverVariablesRequest'),
  GeneratePatches: itemsRequest('GeneratePatchesRequest', true),
  ValidateTopology: itemsRequest('ValidateTopologyRequest', false),
  BeforeClusterCreate: clusterRequest('BeforeClusterCreateRequest'),
  AfterControlPlaneInitialized: clusterRequest('AfterControlPlaneInitializedRequest'),
  BeforeClusterUpgrade: clusterRequest(
    'BeforeClusterUpgradeRequest',
    {
      fromKubernetesVersion: { type: 'string', minLength: 1, maxLength: 64 },
      toKubernetesVersion: { type: 'string', minLength: 1, maxLength: 64 },
      controlPlaneUpgrades: ref('upgradeSteps'),
      workersUpgrades: ref('upgradeSteps'),
    },
    ['fromKubernetesVersion', 'toKubernetesVersion'],
  ),
  BeforeClusterDelete: clusterRequest('BeforeClusterDeleteRequest'),
};

const LIFECYCLE: ReadonlySet<HookName> = new Set(['BeforeClusterCreate', 'AfterControlPlaneInitialized', 'BeforeClusterUpgrade', 'BeforeClusterDelete']);

/** Compiled once, when the module loads; allErrors off, so the first violation ends the check. */
function compile(): ReadonlyMap<HookName, ValidateFunction> {
  const ajv = new Ajv({ allErrors: false, strict: true, strictTypes: false, strictRequired: false });
  ajv.addSchema(SCHEMA);
  return new Map(Object.entries(REQUESTS).map(([hook, schema]) => [hook as HookName, ajv.compile(schema)]));
}

const VALIDATORS = compile();

const isEmptyObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;

const describeError = (errors: readonly ErrorObject[] | null | undefined, prefix = ''): string => {
  const first = (errors ?? [])[0];
  if (!first) return 'does not match its schema';
  return formatErrors([{ ...first, instancePath: `${prefix}${first.instancePath}` }])[0]!;
};

/** Why a request body's text nests too deep, naming where; undefined when it does not. Checked before the body is parsed. */
export function depthProblem(text: Uint8Array): string | undefined {
  if (!nestsDeeper(text)) return undefined;
  return `${deepestPath(text) ?? '/'} is nested deeper than ${MAX_DEPTH} levels`;
}

/**
 * Why a parsed request body is not a valid request of the hook, naming the
 * field as a JSON pointer ("/variables/0/value must NOT have more than 1000
 * items"); undefined when it is valid. The server checks the depth of the
 * text (depthProblem), then apiVersion and kind, with their own messages,
 * before this.
 */
export function requestProblem(hook: HookName, body: unknown): string | undefined {
  const validate = VALIDATORS.get(hook)!;
  if (!validate(body)) return describeError(validate.errors);
  if (LIFECYCLE.has(hook)) {
    // CAPI sends the Cluster without its status (cleanupCluster; Go omits the
    // zero struct); an empty one is the same thing, not a CRD violation.
    const { status, ...rest } = (body as { cluster: Record<string, unknown> }).cluster;
    const cluster = isEmptyObject(status) ? rest : { ...rest, status };
    if (!validateCluster(cluster)) return describeError(validateCluster.errors, '/cluster');
  }
  return undefined;
}
