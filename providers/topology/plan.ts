// `ironplane plan`, the pure part: what the topology controller would build
// for a Cluster of one of our ClusterClasses, offline, with the extension's
// own GeneratePatches and ValidateTopology handlers; and, for a ClusterClass
// change, the diff of every generated object and the rollouts it causes.
//
// The requests are the ones CAPI v1.13 builds (exp/topology/desiredstate,
// internal/controllers/topology/cluster/patches): one item per template with
// its holder reference, the builtin variable (cluster; controlPlane on the
// control-plane item; machineDeployment on each MachineDeployment's items),
// the Cluster's variables with the schema defaults applied, and each
// MachineDeployment's overrides. The patched objects keep only
// spec.template.spec, as CAPI's patch engine does; the control plane then
// gets the topology's version and replicas.
//
// Names leave out CAPI's random suffixes: the InfraCluster and the control
// plane are named after the Cluster, a MachineDeployment's templates
// <cluster>-<machine deployment>.
import { Ajv, type ValidateFunction } from 'ajv';
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import fastJsonPatch from 'fast-json-patch';
import { parseAllDocuments, stringify } from 'yaml';
import { formatErrors } from '../api/validate.js';
import type { GeneratePatchesRequest, GeneratePatchesRequestItem, HolderReference, TemplateObject, ValidateTopologyRequest, Variable } from './api.js';
import { HOOKS_API_VERSION } from './api.js';
import { parseCidr } from './cidr.js';
import { generatePatches } from './handlers/generatepatches.js';
import { validateTopology } from './handlers/validatetopology.js';
import { VARIABLES, type BaseConfig } from './variables.js';

const { applyPatch } = fastJsonPatch;

/** Bad input: a file that cannot be used, with a message naming it and the problem. */
export class PlanInputError extends Error {
  override name = 'PlanInputError';
}

/** A file's path (for messages) and its text. */
export interface Source {
  path: string;
  text: string;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface TemplateRef {
  apiVersion: string;
  kind: string;
  name: string;
}

/** A ClusterClass and the templates found beside it. */
export interface LoadedClass {
  file: string;
  name: string;
  namespace?: string;
  controlPlane: TemplateObject;
  infrastructure: TemplateObject;
  machineDeployments: Map<string, { bootstrap: TemplateObject; infrastructure: TemplateObject }>;
  /** external.settings of the ClusterClass patch that calls the extension. */
  settings?: Record<string, string>;
  /** Whether the class calls an extension for patches and for validation. */
  generatePatches: boolean;
  validateTopology: boolean;
  /** Things the plan does not do for this class (inline patches). */
  notes: string[];
}

interface MachineDeploymentTopology {
  name: string;
  class: string;
  replicas?: number;
  variables?: { overrides?: Variable[] };
}

/** A Cluster with spec.topology, as read from a file. */
export interface LoadedCluster {
  file: string;
  name: string;
  namespace: string;
  obj: Obj;
  topology: {
    classRef: { name: string; namespace?: string };
    version: string;
    controlPlane?: { replicas?: number };
    workers?: { machineDeployments?: MachineDeploymentTopology[] };
    variables?: Variable[];
  };
}

export type Role = 'InfraCluster' | 'ControlPlane' | 'InfraMachineTemplate' | 'BootstrapTemplate';

export interface RenderedObject {
  role: Role;
  /** The MachineDeployment topology name, for its templates. */
  machineDeployment?: string;
  object: { apiVersion: string; kind: string; metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: Obj };
}

export interface Verdict {
  status: 'Success' | 'Failure';
  message?: string;
}

export interface Render {
  /** namespace/name */
  cluster: string;
  class: string;
  /** The generated objects; empty when GeneratePatches fails (CAPI then changes nothing). */
  objects: RenderedObject[];
  generatePatches: Verdict;
  validateTopology: Verdict;
  notes?: string[];
}

export const renderOk = (r: Render): boolean => r.generatePatches.status === 'Success' && r.validateTopology.status === 'Success';

// ---------------------------------------------------------------- reading

function parseDocs(src: Source): Obj[] {
  let docs;
  try {
    docs = parseAllDocuments(src.text);
  } catch (e) {
    throw new PlanInputError(`${src.path} is not YAML: ${(e as Error).message}`);
  }
  const list = Array.isArray(docs) ? docs : [docs];
  const out: Obj[] = [];
  for (const d of list) {
    if (d.errors.length) throw new PlanInputError(`${src.path} is not YAML: ${d.errors[0]!.message.split('\n')[0]}`);
    const v: unknown = d.toJS();
    if (v === null || v === undefined) continue;
    if (!isObject(v)) throw new PlanInputError(`${src.path} is not YAML of Kubernetes objects: a document is ${Array.isArray(v) ? 'a list' : JSON.stringify(v)}`);
    out.push(v);
  }
  return out;
}

const groupOf = (apiVersion: unknown): string => (typeof apiVersion === 'string' && apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');
const nameOf = (o: Obj): string => String((o['metadata'] as Obj | undefined)?.['name'] ?? '');
const namespaceOf = (o: Obj): string | undefined => {
  const ns = (o['metadata'] as Obj | undefined)?.['namespace'];
  return typeof ns === 'string' && ns ? ns : undefined;
};

function refOf(v: unknown): TemplateRef | undefined {
  const r = isObject(v) ? v['templateRef'] : undefined;
  if (!isObject(r) || typeof r['kind'] !== 'string' || typeof r['name'] !== 'string' || typeof r['apiVersion'] !== 'string') return undefined;
  return { apiVersion: r['apiVersion'], kind: r['kind'], name: r['name'] };
}

/** The ClusterClasses of a file, each with its templates from the same file. `want` picks one by name when the file holds several. */
export function loadClass(src: Source, want?: string): LoadedClass {
  const docs = parseDocs(src);
  const classes = docs.filter((d) => d['kind'] === 'ClusterClass' && groupOf(d['apiVersion']) === 'cluster.x-k8s.io');
  if (classes.length === 0) throw new PlanInputError(`${src.path} holds no ClusterClass`);
  let cc = classes.length === 1 ? classes[0]! : classes.find((c) => nameOf(c) === want);
  if (!cc) throw new PlanInputError(`${src.path} holds ClusterClasses ${classes.map(nameOf).join(', ')}, none named ${want ?? '(no name given)'}`);
  const name = nameOf(cc);
  if (cc['apiVersion'] !== 'cluster.x-k8s.io/v1beta2') throw new PlanInputError(`${src.path}: ClusterClass ${name} is ${String(cc['apiVersion'])}; plan reads cluster.x-k8s.io/v1beta2`);
  cc = cc as Obj;
  const spec = isObject(cc['spec']) ? cc['spec'] : {};

  const template = (ref: TemplateRef | undefined, where: string): TemplateObject => {
    if (!ref) throw new PlanInputError(`${src.path}: ClusterClass ${name} has no ${where}.templateRef`);
    const t = docs.find((d) => d['kind'] === ref.kind && d['apiVersion'] === ref.apiVersion && nameOf(d) === ref.name);
    if (!t) throw new PlanInputError(`${src.path}: ClusterClass ${name} refers to ${ref.kind} ${ref.name} (${ref.apiVersion}) in ${where}, which is not in the file`);
    return t as TemplateObject;
  };

  const machineDeployments = new Map<string, { bootstrap: TemplateObject; infrastructure: TemplateObject }>();
  const mds = (isObject(spec['workers']) ? spec['workers']['machineDeployments'] : undefined) ?? [];
  for (const md of Array.isArray(mds) ? mds : []) {
    if (!isObject(md) || typeof md['class'] !== 'string') continue;
    const where = `workers.machineDeployments[${md['class']}]`;
    machineDeployments.set(md['class'], { bootstrap: template(refOf(md['bootstrap']), `${where}.bootstrap`), infrastructure: template(refOf(md['infrastructure']), `${where}.infrastructure`) });
  }

  let settings: Record<string, string> | undefined;
  let gp = false;
  let vt = false;
  const notes: string[] = [];
  for (const p of Array.isArray(spec['patches']) ? (spec['patches'] as unknown[]) : []) {
    if (!isObject(p)) continue;
    const ext = p['external'];
    if (isObject(ext)) {
      // The first external patch that asks for patches or validation is the extension's.
      if ((ext['generatePatchesExtension'] || ext['validateTopologyExtension']) && !gp && !vt) {
        gp = !!ext['generatePatchesExtension'];
        vt = !!ext['validateTopologyExtension'];
        if (isObject(ext['settings'])) settings = Object.fromEntries(Object.entries(ext['settings']).map(([k, v]) => [k, String(v)]));
      }
    } else if (p['definitions'] !== undefined) {
      notes.push(`inline patch ${String(p['name'])} of ClusterClass ${name} is not applied by plan`);
    }
  }
  if (!gp) notes.push(`ClusterClass ${name} calls no GeneratePatches extension: the templates are rendered unpatched`);

  return {
    file: src.path,
    name,
    namespace: namespaceOf(cc),
    controlPlane: template(refOf(spec['controlPlane']), 'controlPlane'),
    infrastructure: template(refOf(spec['infrastructure']), 'infrastructure'),
    machineDeployments,
    settings,
    generatePatches: gp,
    validateTopology: vt,
    notes,
  };
}

/** The Clusters of a file; every one must have a managed topology. */
export function loadClusters(src: Source): LoadedCluster[] {
  const docs = parseDocs(src).filter((d) => d['kind'] === 'Cluster' && groupOf(d['apiVersion']) === 'cluster.x-k8s.io');
  if (docs.length === 0) throw new PlanInputError(`${src.path} holds no Cluster`);
  return docs.map((d) => {
    const name = nameOf(d);
    const namespace = namespaceOf(d) ?? 'default';
    const id = `${src.path}: Cluster ${namespace}/${name}`;
    if (d['apiVersion'] !== 'cluster.x-k8s.io/v1beta2') throw new PlanInputError(`${id} is ${String(d['apiVersion'])}; plan reads cluster.x-k8s.io/v1beta2`);
    const topology = isObject(d['spec']) ? d['spec']['topology'] : undefined;
    if (!isObject(topology)) throw new PlanInputError(`${id} has no spec.topology: plan renders Clusters with a managed topology`);
    const classRef = topology['classRef'];
    if (!isObject(classRef) || typeof classRef['name'] !== 'string') throw new PlanInputError(`${id} has no spec.topology.classRef.name`);
    if (typeof topology['version'] !== 'string') throw new PlanInputError(`${id} has no spec.topology.version`);
    return { file: src.path, name, namespace, obj: d, topology: topology as unknown as LoadedCluster['topology'] };
  });
}

// ---------------------------------------------------------------- variables

const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true });
// Kubernetes' "cidr" format is Go's net.ParseCIDR, which accepts host bits.
ajv.addFormat('cidr', (s: string) => {
  const c = parseCidr(s);
  return typeof c !== 'string' || c.includes('has host bits set');
});
const SCHEMAS = new Map<string, { validate: ValidateFunction; default?: unknown }>(
  VARIABLES.map((v) => [v.name, { validate: ajv.compile(v.schema.openAPIV3Schema), default: v.schema.openAPIV3Schema.default }]),
);

/**
 * Values checked against the published schemas with their defaults applied,
 * as CAPI's Cluster webhook does: a missing variable with a top-level default
 * is added (withTopLevelDefaults), then defaults inside each value are filled.
 */
function checkVariables(vars: readonly Variable[], where: string, withTopLevelDefaults: boolean): Variable[] {
  const out: Variable[] = [];
  const seen = new Set<string>();
  for (const v of vars) {
    if (!isObject(v) || typeof v.name !== 'string') throw new PlanInputError(`${where}: a variable has no name`);
    if (seen.has(v.name)) throw new PlanInputError(`${where}: variable ${v.name} is set twice`);
    seen.add(v.name);
    const schema = SCHEMAS.get(v.name);
    if (!schema) throw new PlanInputError(`${where}: variable ${v.name} is not defined (defined: ${[...SCHEMAS.keys()].sort().join(', ')})`);
    const value = structuredClone(v.value);
    if (!schema.validate(value)) throw new PlanInputError(`${where}: variable ${v.name} does not match its schema: ${formatErrors(schema.validate.errors).join(', ')}`);
    out.push({ name: v.name, value });
  }
  if (withTopLevelDefaults) {
    for (const [name, schema] of SCHEMAS) {
      if (seen.has(name) || schema.default === undefined) continue;
      const value = structuredClone(schema.default);
      schema.validate(value);
      out.push({ name, value });
    }
  }
  return out;
}

// ---------------------------------------------------------------- rendering

const OWNED = 'topology.cluster.x-k8s.io/owned';
const CLUSTER_NAME = 'cluster.x-k8s.io/cluster-name';
const DEPLOYMENT_NAME = 'topology.cluster.x-k8s.io/deployment-name';

/** Checks that the Cluster belongs to the class: its classRef names it (unless `moving`: the Cluster is being moved to this class). */
function checkClassRef(cls: LoadedClass, c: LoadedCluster, moving: boolean): void {
  if (moving) return;
  const ref = c.topology.classRef;
  const refNs = ref.namespace ?? c.namespace;
  if (ref.name !== cls.name || (cls.namespace !== undefined && refNs !== cls.namespace)) {
    const named = `${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
    throw new PlanInputError(`${c.file}: Cluster ${c.namespace}/${c.name} uses ClusterClass ${named} (spec.topology.classRef), but ${cls.file} holds ${cls.namespace ? `${cls.namespace}/` : ''}${cls.name}`);
  }
}

/**
 * Renders one Cluster under a ClusterClass. Throws PlanInputError for input
 * CAPI itself would refuse (class mismatch, unknown machine deployment class,
 * variables against their schemas). `moving`: the Cluster is rendered under
 * `cls` although its classRef names another class (a class change by moving
 * Clusters to a new class).
 */
export function renderCluster(cls: LoadedClass, c: LoadedCluster, base: BaseConfig, opts: { moving?: boolean } = {}): Render {
  checkClassRef(cls, c, opts.moving ?? false);
  const id = `${c.file}: Cluster ${c.namespace}/${c.name}`;
  const topo = c.topology;
  const mds = topo.workers?.machineDeployments ?? [];
  for (const md of mds) {
    if (!cls.machineDeployments.has(md.class)) {
      throw new PlanInputError(`${id}: MachineDeployment ${md.name} has class ${JSON.stringify(md.class)}, which ClusterClass ${cls.name} (${cls.file}) does not define (it defines ${[...cls.machineDeployments.keys()].join(', ') || 'none'})`);
    }
  }
  const variables = checkVariables(topo.variables ?? [], id, true);

  const metadata = isObject(c.obj['metadata']) ? c.obj['metadata'] : {};
  const clusterNetwork = isObject(c.obj['spec']) && isObject((c.obj['spec'] as Obj)['clusterNetwork']) ? ((c.obj['spec'] as Obj)['clusterNetwork'] as Obj) : undefined;
  const blocks = (k: string): string[] | undefined => {
    const b = isObject(clusterNetwork?.[k]) ? (clusterNetwork![k] as Obj)['cidrBlocks'] : undefined;
    return Array.isArray(b) ? (b as string[]) : undefined;
  };
  const classNamespace = topo.classRef.namespace ?? c.namespace;
  const builtinCluster: Obj = {
    name: c.name,
    namespace: c.namespace,
    ...(metadata['labels'] || metadata['annotations'] ? { metadata: { ...(metadata['labels'] ? { labels: metadata['labels'] } : {}), ...(metadata['annotations'] ? { annotations: metadata['annotations'] } : {}) } } : {}),
    topology: { version: topo.version, classRef: { name: cls.name, namespace: classNamespace }, class: cls.name, classNamespace },
    ...(clusterNetwork
      ? {
          network: {
            ...(typeof clusterNetwork['serviceDomain'] === 'string' ? { serviceDomain: clusterNetwork['serviceDomain'] } : {}),
            ...(blocks('services') ? { services: blocks('services') } : {}),
            ...(blocks('pods') ? { pods: blocks('pods') } : {}),
          },
        }
      : {}),
  };
  const globalVars: Variable[] = [...variables, { name: 'builtin', value: { cluster: builtinCluster } }];

  const holder = (kind: string, name: string, fieldPath: string): HolderReference => ({ apiVersion: 'cluster.x-k8s.io/v1beta2', kind, namespace: c.namespace, name, fieldPath });
  interface Slot {
    role: Role;
    md?: MachineDeploymentTopology;
    name: string;
    item: GeneratePatchesRequestItem;
  }
  const slots: Slot[] = [];
  const uid = (n: number) => `plan-${String(n).padStart(4, '0')}`;
  const copy = (t: TemplateObject): TemplateObject => structuredClone(t);
  slots.push({ role: 'InfraCluster', name: c.name, item: { uid: uid(slots.length), holderReference: holder('Cluster', c.name, 'spec.infrastructureRef'), object: copy(cls.infrastructure) } });
  const cpReplicas = topo.controlPlane?.replicas;
  slots.push({
    role: 'ControlPlane',
    name: c.name,
    item: {
      uid: uid(slots.length),
      holderReference: holder('Cluster', c.name, 'spec.controlPlaneRef'),
      object: copy(cls.controlPlane),
      variables: [{ name: 'builtin', value: { controlPlane: { version: topo.version, name: c.name, ...(cpReplicas !== undefined ? { replicas: cpReplicas } : {}) } } }],
    },
  });
  for (const md of mds) {
    const t = cls.machineDeployments.get(md.class)!;
    const mdName = `${c.name}-${md.name}`;
    const overrides = checkVariables(md.variables?.overrides ?? [], `${id}: MachineDeployment ${md.name}`, false);
    const builtin: Variable = {
      name: 'builtin',
      value: {
        machineDeployment: {
          version: topo.version,
          class: md.class,
          name: mdName,
          topologyName: md.name,
          ...(md.replicas !== undefined ? { replicas: md.replicas } : {}),
          bootstrap: { configRef: { name: mdName } },
          infrastructureRef: { name: mdName },
        },
      },
    };
    const h = holder('MachineDeployment', mdName, '');
    slots.push({ role: 'BootstrapTemplate', md, name: mdName, item: { uid: uid(slots.length), holderReference: { ...h, fieldPath: 'spec.template.spec.bootstrap.configRef' }, object: copy(t.bootstrap), variables: [...overrides, builtin] } });
    slots.push({ role: 'InfraMachineTemplate', md, name: mdName, item: { uid: uid(slots.length), holderReference: { ...h, fieldPath: 'spec.template.spec.infrastructureRef' }, object: copy(t.infrastructure), variables: [...overrides, builtin] } });
  }

  const settings = cls.settings ? { settings: cls.settings } : {};
  let generate: Verdict = { status: 'Success' };
  let items = slots.map((s) => s.item);
  if (cls.generatePatches) {
    const req: GeneratePatchesRequest = { apiVersion: HOOKS_API_VERSION, kind: 'GeneratePatchesRequest', ...settings, variables: globalVars, items };
    const res = generatePatches(req, base);
    generate = res.status === 'Success' ? { status: 'Success' } : { status: 'Failure', message: res.message ?? '' };
    if (res.status === 'Success') {
      items = items.map((item) => {
        const p = (res.items ?? []).find((i) => i.uid === item.uid);
        if (!p) return item;
        const ops = JSON.parse(Buffer.from(p.patch, 'base64').toString('utf8')) as fastJsonPatch.Operation[];
        const patched = applyPatch(structuredClone(item.object), ops, true, false).newDocument;
        // CAPI keeps only the template's spec.
        return { ...item, object: { ...item.object, spec: patched.spec } };
      });
    }
  }
  let validation: Verdict = { status: 'Success' };
  if (generate.status === 'Failure') validation = { status: 'Failure', message: 'not run: GeneratePatches failed' };
  else if (cls.validateTopology) {
    const req: ValidateTopologyRequest = {
      apiVersion: HOOKS_API_VERSION,
      kind: 'ValidateTopologyRequest',
      ...settings,
      variables: globalVars,
      items: items.map(({ holderReference, object, variables: v }) => ({ holderReference, object, ...(v ? { variables: v } : {}) })),
    };
    // Offline: no Capsule Tenant is read, so the GPU quota is not checked.
    const res = validateTopology(req, base, undefined);
    validation = res.status === 'Success' ? { status: 'Success' } : { status: 'Failure', message: res.message ?? '' };
  }

  const objects: RenderedObject[] = [];
  if (generate.status === 'Success') {
    slots.forEach((s, i) => {
      const t = items[i]!.object;
      const inner = ((t.spec?.['template'] as Obj | undefined)?.['spec'] as Obj | undefined) ?? {};
      const labels: Record<string, string> = { [CLUSTER_NAME]: c.name, [OWNED]: '' };
      if (s.md) labels[DEPLOYMENT_NAME] = s.md.name;
      const meta = { name: s.name, namespace: c.namespace, labels };
      const kind = String(t.kind);
      let object: RenderedObject['object'];
      if (s.role === 'InfraCluster') object = { apiVersion: String(t.apiVersion), kind: kind.replace(/Template$/, ''), metadata: meta, spec: structuredClone(inner) };
      else if (s.role === 'ControlPlane') {
        // The topology's own fields override the template's (patchObject keeps spec.version and spec.replicas).
        object = { apiVersion: String(t.apiVersion), kind: kind.replace(/Template$/, ''), metadata: meta, spec: { ...structuredClone(inner), version: topo.version, ...(cpReplicas !== undefined ? { replicas: cpReplicas } : {}) } };
      } else object = { apiVersion: String(t.apiVersion), kind, metadata: meta, spec: { template: { spec: structuredClone(inner) } } };
      objects.push({ role: s.role, ...(s.md ? { machineDeployment: s.md.name } : {}), object });
    });
  }
  return {
    cluster: `${c.namespace}/${c.name}`,
    class: cls.name,
    generatePatches: generate,
    validateTopology: validation,
    ...(cls.notes.length ? { notes: [...cls.notes] } : {}),
    objects,
  };
}

// ---------------------------------------------------------------- diffs

export interface ObjectDiff {
  /** "KvmMachineTemplate prod-md-0" (old → new when the kind or name differs). */
  object: string;
  role: Role;
  machineDeployment?: string;
  /** A unified diff of the object's YAML. */
  diff: string;
}

export interface ClusterDiff {
  cluster: string;
  changes: ObjectDiff[];
  /** One line: what changes and what rolls, or "no change". */
  summary: string;
  /** Both renders succeeded (patches and validation). */
  ok: boolean;
  old: Pick<Render, 'class' | 'generatePatches' | 'validateTopology'>;
  new: Pick<Render, 'class' | 'generatePatches' | 'validateTopology'>;
}

const keyOf = (o: RenderedObject): string => `${o.role}/${o.machineDeployment ?? ''}`;
const label = (o: RenderedObject | undefined): string => (o ? `${o.object.kind} ${o.object.metadata.name}` : '(none)');
export const toYaml = (v: unknown): string => stringify(v, { lineWidth: 0 });

/** The diff of one Cluster rendered under the old and the new ClusterClass. */
export function diffRenders(a: Render, b: Render): ClusterDiff {
  const keys = [...new Set([...a.objects.map(keyOf), ...b.objects.map(keyOf)])];
  const changes: ObjectDiff[] = [];
  for (const k of keys) {
    const o = a.objects.find((x) => keyOf(x) === k);
    const n = b.objects.find((x) => keyOf(x) === k);
    const oText = o ? toYaml(o.object) : '';
    const nText = n ? toYaml(n.object) : '';
    if (oText === nText) continue;
    const ref = (n ?? o)!;
    const name = label(o) === label(n) || !o || !n ? label(n ?? o) : `${label(o)} → ${label(n)}`;
    const diff = createTwoFilesPatch(`${label(o)} (${a.class})`, `${label(n)} (${b.class})`, oText, nText, undefined, undefined, { context: 3, headerOptions: FILE_HEADERS_ONLY });
    changes.push({ object: name, role: ref.role, ...(ref.machineDeployment ? { machineDeployment: ref.machineDeployment } : {}), diff });
  }
  const ok = renderOk(a) && renderOk(b);
  return { cluster: a.cluster, changes, summary: summarize(a, b, changes), ok, old: pick(a), new: pick(b) };
}

const pick = (r: Render): ClusterDiff['old'] => ({ class: r.class, generatePatches: r.generatePatches, validateTopology: r.validateTopology });

function summarize(a: Render, b: Render, changes: readonly ObjectDiff[]): string {
  const failed = [
    ...(renderOk(a) ? [] : [`fails under ${a.class} (old)`]),
    ...(renderOk(b) ? [] : [`fails under ${b.class} (new)`]),
  ];
  if (failed.length) return `${a.cluster}: ${failed.join(', ')}: see the verdicts`;
  if (changes.length === 0) return `${a.cluster}: no change`;
  const effects: string[] = [];
  // CAPI updates the control plane object in place and Kamaji rolls the tenant control plane's pods.
  if (changes.some((c) => c.role === 'ControlPlane')) effects.push('rollout of the control plane');
  // A changed template of a MachineDeployment is a new template (CAPI rotates them): its Machines are replaced.
  const rolling = [...new Set(changes.filter((c) => c.machineDeployment).map((c) => c.machineDeployment!))].sort();
  if (rolling.length) effects.push(`rollout of MachineDeployment${rolling.length > 1 ? 's' : ''} ${rolling.join(', ')}`);
  // The InfraCluster is patched in place: nothing is replaced.
  const infra = changes.find((c) => c.role === 'InfraCluster');
  if (infra) effects.push(`${infra.object} updated in place`);
  return `${a.cluster}: ${changes.map((c) => c.object).join(', ')} change → ${effects.join('; ')}`;
}
