// The add-on profiles (templates/addons) and the governance example
// (templates/governance) against the real apiserver with Sveltos's, Capsule's
// and Cluster API's CRDs: every document passes the generated validator for
// its kind where there is one, and a server-side create with strict field
// validation (a dry run, except for the Namespaces, which the other documents
// need), so a misspelt field fails here rather than being pruned silently. The
// manifests the profiles deliver (the ConfigMaps' contents) get the same
// check, as a tenant cluster's apiserver would see them.
// Then the contracts with the runtime extension: the profiles select exactly
// the Clusters that AfterControlPlaneInitialized labels for them, and the
// extension reads the example Tenant's quota as intended.
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as capsuleApi from '../../providers/api/generated/capsule/index.js';
import * as sveltosApi from '../../providers/api/generated/sveltos/index.js';
import { formatErrors, type Validator } from '../../providers/api/validate.js';
import { Clusters } from '../../providers/capi/contract.js';
import { Client, isAlreadyExists, type WriteOptions } from '../../providers/kit/client.js';
import { silentLogger } from '../../providers/kit/log.js';
import { Namespaces, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { askOf, quotaShortfalls } from '../../providers/topology/checks.js';
import { afterControlPlaneInitialized } from '../../providers/topology/handlers/aftercontrolplaneinitialized.js';
import { ClusterState, TENANT_LABEL, Tenants } from '../../providers/topology/state.js';
import { ADDON_COMPONENTS, ADDON_SETS, DEFAULT_MANDATORY_ADDONS, type AddonSet } from '../../providers/topology/variables.js';
import type { ClusterRequest } from '../../providers/topology/api.js';
import { startControlPlane, type ControlPlane } from '../harness/index.js';
import { REPO } from './processes.js';

const DIRS = ['templates/addons', 'templates/governance'];
const STRICT: WriteOptions = { dryRun: true, fieldValidation: 'Strict' };

interface Doc {
  /** Where it comes from, for test names and messages. */
  where: string;
  obj: KubeObject & Record<string, unknown>;
}

interface PolicyRef {
  kind?: string;
  name?: string;
  namespace?: string;
}

interface Profile extends KubeObject {
  spec: {
    clusterSelector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
    policyRefs?: PolicyRef[];
    dependsOn?: string[];
    tier?: unknown;
  };
}

const ident = (o: KubeObject): string => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;

/** The documents of one YAML text; a syntax error fails with its place. */
function parseDocs(text: string, where: string): Doc[] {
  const out: Doc[] = [];
  parseAllDocuments(text).forEach((d, i) => {
    if (d.errors.length) throw new Error(`${where} document ${i}: ${d.errors[0]!.message}`);
    const obj = d.toJS() as Doc['obj'] | null;
    if (obj !== null) out.push({ where: `${where}#${i} ${ident(obj)}`, obj });
  });
  return out;
}

/** Every document of every YAML file under the template directories. */
function templateDocs(): Doc[] {
  const docs: Doc[] = [];
  for (const dir of DIRS) {
    for (const f of fs.readdirSync(path.join(REPO, dir), { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f)).sort()) {
      docs.push(...parseDocs(fs.readFileSync(path.join(REPO, dir, f), 'utf8'), `${dir}/${f}`));
    }
  }
  return docs;
}

const TEMPLATES = templateDocs();
const PROFILES = TEMPLATES.filter((d) => d.obj.kind === 'ClusterProfile').map((d) => d.obj as unknown as Profile);
const CONFIGMAPS = TEMPLATES.filter((d) => d.obj.kind === 'ConfigMap');

/** The manifests the profiles deliver: every data key of every ConfigMap a profile refers to. */
function deliveredDocs(): Doc[] {
  const docs: Doc[] = [];
  for (const p of PROFILES) {
    for (const ref of p.spec.policyRefs ?? []) {
      if (ref.kind !== 'ConfigMap') continue;
      const cm = CONFIGMAPS.find((c) => c.obj.metadata?.name === ref.name && c.obj.metadata?.namespace === ref.namespace);
      if (!cm) continue; // reported by a test below
      for (const [key, text] of Object.entries((cm.obj['data'] ?? {}) as Record<string, string>)) {
        docs.push(...parseDocs(text, `${ident(cm.obj)}[${key}]`));
      }
    }
  }
  return docs;
}
const DELIVERED = deliveredDocs();

/** The generated validators by "apiVersion/kind", found from each module's <Kind>Resource and validate<Kind> exports. */
function validators(...mods: Record<string, unknown>[]): Map<string, Validator<unknown>> {
  const out = new Map<string, Validator<unknown>>();
  for (const mod of mods) {
    for (const [name, value] of Object.entries(mod)) {
      if (!name.endsWith('Resource') || typeof value !== 'object' || value === null) continue;
      const { apiVersion, kind } = value as { apiVersion?: string; kind?: string };
      const v = mod[`validate${kind}`];
      if (apiVersion && kind && typeof v === 'function') out.set(`${apiVersion}/${kind}`, v as Validator<unknown>);
    }
  }
  return out;
}
const VALIDATORS = validators(sveltosApi, capsuleApi);

let cp: ControlPlane;
let client: Client;

/** A kind's REST resource, from the apiserver's discovery (built-in kinds and CRDs alike). */
const discovered = new Map<string, Promise<{ name: string; kind: string; namespaced: boolean }[]>>();
async function resourceOf(obj: KubeObject): Promise<ResourceType> {
  const apiVersion = obj.apiVersion ?? '';
  if (!discovered.has(apiVersion)) {
    const p = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    discovered.set(apiVersion, client.request<{ resources: { name: string; kind: string; namespaced: boolean }[] }>({ method: 'GET', path: p }).then((r) => r.resources));
  }
  const r = (await discovered.get(apiVersion)!).find((x) => x.kind === obj.kind && !x.name.includes('/'));
  if (!r) throw new Error(`the apiserver serves no ${obj.kind} in ${apiVersion}`);
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  return { group, version, kind: r.kind, plural: r.name, namespaced: r.namespaced };
}

/** The apiserver's answer to a dry-run create: undefined when accepted, else its message. */
async function refusal(obj: KubeObject, opts: WriteOptions = STRICT): Promise<string | undefined> {
  try {
    await client.create(await resourceOf(obj), obj, opts);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

beforeAll(async () => {
  cp = await startControlPlane({
    name: 'templates',
    crds: [
      path.join(REPO, 'config/external/sveltos/addon-controller'),
      path.join(REPO, 'config/external/capsule'),
      path.join(REPO, 'config/external/capi/cluster.x-k8s.io_clusters.yaml'),
      path.join(REPO, 'config/external/capi/cluster.x-k8s.io_clusterclasses.yaml'),
    ],
  });
  client = new Client(cp.kubeConfig, { fieldManager: 'templates-test', timeoutMs: 30_000 });
  // Namespaced documents need their namespaces to exist, also for a dry run:
  // the Namespace documents are created for real, with strict validation.
  for (const d of [...TEMPLATES, ...DELIVERED].filter((x) => x.obj.kind === 'Namespace')) {
    try {
      await client.create(Namespaces, d.obj, { fieldValidation: 'Strict' });
    } catch (e) {
      if (!isAlreadyExists(e)) throw new Error(`${d.where}: ${(e as Error).message}`);
    }
  }
}, 120_000);

afterAll(async () => {
  client?.close();
  await cp?.stop();
});

describe('the template files', () => {
  it('should hold a profile for each add-on component and a Capsule Tenant', () => {
    expect(PROFILES.map((p) => p.metadata?.name).sort()).toEqual(ADDON_COMPONENTS.map((c) => `ironplane-${c}`).sort());
    expect(TEMPLATES.filter((d) => d.obj.kind === 'Tenant')).toHaveLength(1);
  });

  it('should find generated validators for the Sveltos ClusterProfile and the Capsule Tenant', () => {
    expect([...VALIDATORS.keys()]).toEqual(expect.arrayContaining(['config.projectsveltos.io/v1beta1/ClusterProfile', 'capsule.clastix.io/v1beta2/Tenant']));
  });

  it.each(TEMPLATES.filter((d) => VALIDATORS.has(`${d.obj.apiVersion}/${d.obj.kind}`)).map((d) => [d.where, d] as const))('%s: should pass the generated validator', (_where, d) => {
    const validate = VALIDATORS.get(`${d.obj.apiVersion}/${d.obj.kind}`)!;
    expect(validate(d.obj) ? [] : formatErrors(validate.errors)).toEqual([]);
  });

  it.each([...TEMPLATES, ...DELIVERED].map((d) => [d.where, d] as const))('%s: should be accepted by the apiserver under strict field validation', async (_where, d) => {
    if (d.obj.kind === 'Namespace') {
      // Created for real in beforeAll; what the apiserver stored must be what the file says.
      const ns = await client.get(Namespaces, d.obj.metadata!.name!);
      expect(ns.metadata?.labels).toMatchObject(d.obj.metadata?.labels ?? {});
      return;
    }
    expect(await refusal(d.obj)).toBeUndefined();
  });

  it('given the profiles, should refer only to ConfigMaps in the templates and to profiles that exist', () => {
    const problems: string[] = [];
    const names = new Set(PROFILES.map((p) => p.metadata?.name));
    for (const p of PROFILES) {
      for (const ref of p.spec.policyRefs ?? []) {
        const found = CONFIGMAPS.some((c) => ref.kind === 'ConfigMap' && c.obj.metadata?.name === ref.name && c.obj.metadata?.namespace === ref.namespace);
        if (!found) problems.push(`${p.metadata?.name}: no ${ref.kind} ${ref.namespace}/${ref.name} in the templates`);
      }
      for (const dep of p.spec.dependsOn ?? []) if (!names.has(dep)) problems.push(`${p.metadata?.name}: depends on missing profile ${dep}`);
    }
    expect(problems).toEqual([]);
    expect(DELIVERED.length).toBeGreaterThan(0);
  });

  it('given the delivered manifests, should pin every container image to a tag', () => {
    const images: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === 'image' && typeof x === 'string') images.push(x);
          else walk(x);
        }
      }
    };
    DELIVERED.forEach((d) => walk(d.obj));
    // The local-path provisioner's helper pod is a manifest inside a ConfigMap of its own.
    for (const d of DELIVERED.filter((x) => x.obj.kind === 'ConfigMap')) {
      for (const text of Object.values((d.obj['data'] ?? {}) as Record<string, string>)) images.push(...[...text.matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!));
    }
    expect(images.length).toBeGreaterThan(0);
    expect(images.filter((i) => !/^[a-z0-9.-]+\/[a-z0-9./_-]+:v?\d+(\.\d+)+$/.test(i))).toEqual([]);
  });
});

describe('a broken profile', () => {
  const broken = (change: (spec: Record<string, unknown>, ref: Record<string, unknown>) => void): Profile => {
    const p = structuredClone(PROFILES.find((x) => x.metadata?.name === 'ironplane-cni')!) as Profile;
    p.metadata = { name: 'broken' };
    change(p.spec as Record<string, unknown>, p.spec.policyRefs![0] as Record<string, unknown>);
    return p;
  };

  it('given an unknown field, should be refused under strict validation with the field named, and pruned without it', async () => {
    const p = broken((_spec, ref) => (ref['nmae'] = 'ironplane-cni'));
    expect(await refusal(p)).toContain('unknown field "spec.policyRefs[0].nmae"');
    const validate = VALIDATORS.get('config.projectsveltos.io/v1beta1/ClusterProfile')!;
    expect(validate(p)).toBe(false);
    expect(formatErrors(validate.errors)).toContain("/spec/policyRefs/0 must NOT have additional properties 'nmae'");
    // Without strict validation the apiserver drops the field and accepts the profile: the typo would go unnoticed.
    const kept = await client.create<Profile>(await resourceOf(p), p, { dryRun: true });
    expect(kept.spec.policyRefs![0]).not.toHaveProperty('nmae');
  });

  it('given a field of the wrong type, should be refused with the field named', async () => {
    const p = broken((spec) => (spec['tier'] = 'high'));
    const message = await refusal(p);
    expect(message).toContain('spec.tier');
    expect(message).toContain('must be of type integer');
    const validate = VALIDATORS.get('config.projectsveltos.io/v1beta1/ClusterProfile')!;
    expect(validate(p)).toBe(false);
    expect(formatErrors(validate.errors)).toContain('/spec/tier must be integer');
  });
});

describe('the label contract with the runtime extension', () => {
  /** A Kubernetes label selector string from a LabelSelector, as Sveltos evaluates it. */
  const selectorOf = (s: NonNullable<Profile['spec']['clusterSelector']>): string =>
    [
      ...Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
      ...(s.matchExpressions ?? []).map((e) =>
        e.operator === 'Exists' ? e.key : e.operator === 'DoesNotExist' ? `!${e.key}` : `${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(',')})`,
      ),
    ].join(',');

  it('given a Cluster labelled by AfterControlPlaneInitialized for each add-on set, should select it by exactly the profiles of its set', async () => {
    const NS = 'addon-sets';
    await client.create(Namespaces, { metadata: { name: NS } });
    for (const set of Object.keys(ADDON_SETS) as AddonSet[]) {
      const cluster = { metadata: { name: set, namespace: NS, labels: {} }, spec: { topology: { variables: [{ name: 'addons', value: set }] } } };
      const { response, labels } = afterControlPlaneInitialized({ apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'AfterControlPlaneInitializedRequest', cluster } as unknown as ClusterRequest);
      expect(response.status).toBe('Success');
      const applied = Object.fromEntries(Object.entries(labels).filter((e): e is [string, string] => e[1] !== null));
      await client.create(Clusters, { metadata: { name: set, namespace: NS, labels: applied }, spec: { infrastructureRef: { apiGroup: 'infrastructure.ironplane.dev', kind: 'KvmCluster', name: set } } } as KubeObject);
    }
    const selected: Record<string, string[]> = {};
    const expected: Record<string, string[]> = {};
    for (const p of PROFILES) {
      const name = p.metadata!.name!;
      expect(p.spec.clusterSelector, `${name} selects no clusters`).toBeDefined();
      const found = await client.list(Clusters, { namespace: NS, labelSelector: selectorOf(p.spec.clusterSelector!) });
      selected[name] = found.items.map((c) => c.metadata!.name!).sort();
      const component = name.replace(/^ironplane-/, '');
      // A mandatory component (the extension's default, policies) is labelled whatever the set.
      expected[name] = Object.entries(ADDON_SETS)
        .filter(([, components]) => (components as readonly string[]).includes(component) || (DEFAULT_MANDATORY_ADDONS as readonly string[]).includes(component))
        .map(([set]) => set)
        .sort();
    }
    expect(selected).toEqual(expected);
  });
});

describe('the Tenant as BeforeClusterCreate reads it', () => {
  let state: ClusterState | undefined;
  afterAll(async () => {
    await state?.stop();
  });

  it('given the example Tenant and its namespace, should find the quota and block a GPU ask beyond it', async () => {
    const tenant = TEMPLATES.find((d) => d.obj.kind === 'Tenant')!.obj;
    const ns = TEMPLATES.find((d) => d.obj.kind === 'Namespace' && d.obj.metadata?.labels?.[TENANT_LABEL])!.obj;
    expect(ns.metadata!.labels![TENANT_LABEL]).toBe(tenant.metadata!.name);
    await client.create(Tenants, tenant, { fieldValidation: 'Strict' });
    state = new ClusterState(client, silentLogger);
    await state.start();
    const tenancy = await waitForTenancy(state, ns.metadata!.name!);
    expect(tenancy).toMatchObject({
      tenant: 'ml-research',
      scope: 'Tenant',
      hard: {
        'count/machines.cluster.x-k8s.io': '20',
        'requests.cpu': '128',
        'requests.memory': '512Gi',
        'requests.nvidia.com/GA102GL_A10': '8',
        'requests.nvidia.com/gpu': '8',
        'requests.storage': '4Ti',
        persistentvolumeclaims: '60',
      },
    });
    const gpuWorkers = (replicas: number) => askOf([{ replicas, virtual: true, cpu: 8, memoryBytes: 32 * 2 ** 30, gpu: { model: 'nvidia.com/GA102GL_A10', count: 2 } }]);
    expect(quotaShortfalls(gpuWorkers(4), tenancy)).toEqual([]);
    expect(quotaShortfalls(gpuWorkers(5), tenancy)).toEqual(['requests.nvidia.com/GA102GL_A10 needs 10, 8 of 8 left']);
  });
});

/** The tenancy once the informers have seen the Tenant (they start asynchronously). */
async function waitForTenancy(state: ClusterState, namespace: string): Promise<ReturnType<ClusterState['tenancy']>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const t = state.tenancy(namespace, undefined, 'gpu');
    if (!t.problem || Date.now() > deadline) return t;
    await new Promise((r) => setTimeout(r, 50));
  }
}
