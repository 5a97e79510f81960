// clusterctl with Ironplane's release artifacts, for the e2e suite, `make demo`
// and `make release-manifests`:
//
// - verifyRelease checks what config/release/build.sh wrote into out/ against
//   clusterctl's provider contract (one Namespace, a `manager` container,
//   variables with defaults, cert-manager wiring, metadata ↔ CRD contract);
// - buildLocalRepository lays out a clusterctl local repository (file://
//   URLs) with Cluster API core built by kustomize from the pinned CAPI
//   module, the Kamaji control-plane provider's released components from its
//   pinned module, and ours from out/, and writes the clusterctl config;
// - clusterctlInit, clusterctlGenerate, clusterctlDescribe and clusterctlMove
//   run bin/clusterctl with that config, HOME and XDG dirs inside the
//   repository dir (nothing read from or written to ~/.cluster-api), and the
//   version check off, so nothing leaves the machine.
//
// Provider Deployments never run on the local management plane: the tests
// start the processes themselves, out of cluster. After clusterctl init the
// apiserver holds webhook configurations and CRD conversion webhooks that name
// in-cluster Services: startCapiManager (test/harness/capi.ts) points Cluster
// API's at its loopback port, and pointAtLoopback does the same for one of
// our providers, returning the port and certificate its manager serves with.
//
// Run as a script (see the end of this file): `verify-release [out-dir]` for
// `make release-manifests`, `init-running <kubeconfig>` for `make e2e-kind`.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { CONTRACT } from '../../providers/cli/version.js';
import { Client } from '../../providers/kit/client.js';
import { CustomResourceDefinitions, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { freePorts, installWebhookConfigurations, issueCert, pointConversionWebhooks, type ControlPlane } from '../harness/index.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The Cluster API contract Ironplane implements, which metadata.yaml and the CRD labels declare. */
export const IRONPLANE_CONTRACT = CONTRACT;

export type ProviderType = 'CoreProvider' | 'InfrastructureProvider' | 'BootstrapProvider' | 'ControlPlaneProvider' | 'RuntimeExtensionProvider';

export interface ProviderSpec {
  /** clusterctl's provider name (the `--infrastructure ironplane-kvm` part). */
  name: string;
  type: ProviderType;
  /** clusterctl's manifest label and local-repository directory: <type prefix>-<name>. */
  label: string;
  /** The components file clusterctl reads. */
  components: string;
  /** The ClusterClass published with an infrastructure provider (clusterclass-<name>.yaml), if any. */
  clusterClass?: string;
}

/** Ironplane's clusterctl providers, as config/release/build.sh lays them out. */
export const IRONPLANE_PROVIDERS: readonly ProviderSpec[] = [
  { name: 'ironplane-kvm', type: 'InfrastructureProvider', label: 'infrastructure-ironplane-kvm', components: 'infrastructure-components.yaml', clusterClass: 'ironplane-kvm' },
  { name: 'ironplane-metal', type: 'InfrastructureProvider', label: 'infrastructure-ironplane-metal', components: 'infrastructure-components.yaml', clusterClass: 'ironplane-metal' },
  { name: 'ironplane-kairos', type: 'BootstrapProvider', label: 'bootstrap-ironplane-kairos', components: 'bootstrap-components.yaml' },
  { name: 'ironplane', type: 'RuntimeExtensionProvider', label: 'runtime-extension-ironplane', components: 'runtime-extension-components.yaml' },
];

/** The upstream providers of the local repository. */
export const CAPI_PROVIDER: ProviderSpec = { name: 'cluster-api', type: 'CoreProvider', label: 'cluster-api', components: 'core-components.yaml' };
export const KAMAJI_PROVIDER: ProviderSpec = { name: 'kamaji', type: 'ControlPlaneProvider', label: 'control-plane-kamaji', components: 'control-plane-components.yaml' };

/** Variables clusterctl sets itself (`generate cluster <name>`, --target-namespace), so templates may leave them without a default. */
export const CLUSTERCTL_SET_VARIABLES: readonly string[] = ['CLUSTER_NAME', 'NAMESPACE'];

/** The variables Cluster API, Kamaji and the local planes need (DESIGN.md §1, §3); all have defaults in the components, these override them. */
export const DEFAULT_VARIABLES: Readonly<Record<string, string>> = {
  CLUSTER_TOPOLOGY: 'true',
  EXP_RUNTIME_SDK: 'true',
  CACPPK_DYNAMIC_INFRASTRUCTURE_CLUSTER_PATCH: 'true',
  CACPPK_INFRASTRUCTURE_CLUSTERS: 'KvmCluster,MetalCluster',
};

/** v<package.json version>: the version of every Ironplane provider in a release. */
export function releaseVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  return `v${pkg.version}`;
}

// ---------------------------------------------------------------------------
// Checks of the release artifacts. Each returns problems as messages naming
// the file; an empty list means the artifact is fine.

type Obj = KubeObject & Record<string, unknown>;

interface Parsed {
  docs: Obj[];
  problems: string[];
}

function parseYaml(text: string, where: string): Parsed {
  const docs: Obj[] = [];
  const problems: string[] = [];
  parseAllDocuments(text).forEach((d, i) => {
    if (d.errors.length > 0) {
      problems.push(`${where}: document ${i + 1} is not valid YAML: ${d.errors[0]!.message.split('\n')[0]}`);
      return;
    }
    const obj = d.toJS() as unknown;
    if (obj === null || obj === undefined) return;
    if (typeof obj !== 'object' || Array.isArray(obj) || typeof (obj as Obj).kind !== 'string') {
      problems.push(`${where}: document ${i + 1} is not a Kubernetes object (no kind)`);
      return;
    }
    docs.push(obj as Obj);
  });
  return { docs, problems };
}

const VARIABLE = /\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::?[=-]([^}]*))?\}/g;

/**
 * The ${VAR} references of a text (envsubst syntax, as clusterctl reads it)
 * and the default of each (${VAR:=x}, ${VAR=x}, ${VAR:-x}), '' when it has
 * none. clusterctl treats an empty default as no default: the variable must be set.
 */
export function variablesOf(text: string): { name: string; default: string }[] {
  const seen = new Map<string, string>();
  for (const m of text.matchAll(VARIABLE)) {
    const name = m[1]!;
    const dflt = m[2] ?? '';
    // A variable used twice needs a default at each use.
    seen.set(name, seen.has(name) && seen.get(name) === '' ? '' : dflt);
  }
  return [...seen].map(([name, d]) => ({ name, default: d }));
}

function checkVariables(text: string, where: string, allowed: readonly string[] = []): string[] {
  return variablesOf(text)
    .filter((v) => v.default === '' && !allowed.includes(v.name))
    .map(
      (v) =>
        `${where}: variable \${${v.name}} has no default (clusterctl takes an empty one for none): write \${${v.name}:=<default>}, or make it one clusterctl sets (${CLUSTERCTL_SET_VARIABLES.join(', ')})`,
    );
}

const CLUSTER_SCOPED = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ExtensionConfig']);

const id = (o: Obj): string => `${o.kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? ''}`;

function get(o: unknown, ...keys: (string | number)[]): unknown {
  let cur = o;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

interface CrdInfo {
  name: string;
  group: string;
  plural: string;
  served: string[];
  labels: Record<string, string>;
}

function crdInfo(o: Obj): CrdInfo {
  return {
    name: o.metadata?.name ?? '',
    group: String(get(o, 'spec', 'group') ?? ''),
    plural: String(get(o, 'spec', 'names', 'plural') ?? ''),
    served: asArray(get(o, 'spec', 'versions'))
      .filter((v) => get(v, 'served') === true)
      .map((v) => String(get(v, 'name'))),
    labels: o.metadata?.labels ?? {},
  };
}

/**
 * Checks one provider components YAML against clusterctl's contract and our
 * wiring: exactly one Namespace, every namespaced object in it, every object
 * labelled cluster.x-k8s.io/provider=<label>, a Deployment whose container is
 * named `manager`, variables with defaults, CRDs named as CAPI computes them
 * and carrying the contract label, and a cert-manager Certificate whose
 * Secret the Deployment mounts, which the webhook configurations' CA
 * injection and Services match.
 */
export function checkComponents(text: string, where: string, label: string, contract = IRONPLANE_CONTRACT): string[] {
  const { docs, problems } = parseYaml(text, where);
  problems.push(...checkVariables(text, where));

  const namespaces = docs.filter((o) => o.kind === 'Namespace');
  if (namespaces.length !== 1) {
    problems.push(`${where}: ${namespaces.length} Namespace objects (${namespaces.map(id).join(', ') || 'none'}), want exactly one: clusterctl's default target namespace`);
  }
  const ns = namespaces[0]?.metadata?.name;
  for (const o of docs) {
    const provider = o.metadata?.labels?.['cluster.x-k8s.io/provider'];
    if (provider !== label) problems.push(`${where}: ${id(o)} has label cluster.x-k8s.io/provider=${provider ?? '(none)'}, want ${label}`);
    if (ns && !CLUSTER_SCOPED.has(o.kind!) && o.metadata?.namespace !== ns) {
      problems.push(`${where}: ${id(o)} is not in the provider's namespace ${ns}`);
    }
  }

  const deployments = docs.filter((o) => o.kind === 'Deployment');
  const manager = deployments.find((d) => asArray(get(d, 'spec', 'template', 'spec', 'containers')).some((c) => get(c, 'name') === 'manager'));
  if (!manager) problems.push(`${where}: no Deployment with a container named "manager" (clusterctl's contract)`);

  for (const o of docs.filter((x) => x.kind === 'CustomResourceDefinition')) {
    const crd = crdInfo(o);
    if (crd.name !== `${crd.plural}.${crd.group}`) problems.push(`${where}: CRD ${crd.name} must be named ${crd.plural}.${crd.group} (CAPI's computed name)`);
    const versions = crd.labels[`cluster.x-k8s.io/${contract}`];
    if (!versions) {
      problems.push(`${where}: CRD ${crd.name} has no cluster.x-k8s.io/${contract} label: metadata.yaml declares contract ${contract}`);
    } else {
      for (const v of versions.split('_')) {
        if (!crd.served.includes(v)) problems.push(`${where}: CRD ${crd.name} label cluster.x-k8s.io/${contract}=${versions} names ${v}, which it does not serve (${crd.served.join(', ')})`);
      }
    }
  }

  // cert-manager: the serving certificate, its issuer, and who uses it.
  const certificates = docs.filter((o) => o.kind === 'Certificate');
  const issuers = docs.filter((o) => o.kind === 'Issuer');
  const services = docs.filter((o) => o.kind === 'Service');
  const mounted = new Set(
    asArray(get(manager, 'spec', 'template', 'spec', 'volumes'))
      .map((v) => get(v, 'secret', 'secretName'))
      .filter((s): s is string => typeof s === 'string'),
  );
  if (manager && !certificates.some((c) => mounted.has(String(get(c, 'spec', 'secretName'))))) {
    problems.push(`${where}: no cert-manager Certificate whose Secret the manager Deployment mounts (it serves HTTPS)`);
  }
  for (const c of certificates) {
    const issuer = String(get(c, 'spec', 'issuerRef', 'name') ?? '');
    const kind = String(get(c, 'spec', 'issuerRef', 'kind') ?? 'Issuer');
    if (kind === 'Issuer' && !issuers.some((i) => i.metadata?.name === issuer && i.metadata?.namespace === c.metadata?.namespace)) {
      problems.push(`${where}: ${id(c)} names Issuer ${issuer}, which the components do not have`);
    }
    for (const dns of asArray(get(c, 'spec', 'dnsNames')).map(String)) {
      const [svc, svcNs] = dns.split('.');
      if (!services.some((s) => s.metadata?.name === svc && s.metadata?.namespace === svcNs)) problems.push(`${where}: ${id(c)} DNS name ${dns} names no Service of the components`);
    }
  }
  for (const w of docs.filter((o) => o.kind === 'ValidatingWebhookConfiguration' || o.kind === 'MutatingWebhookConfiguration')) {
    const inject = w.metadata?.annotations?.['cert-manager.io/inject-ca-from'];
    if (!inject) {
      problems.push(`${where}: ${id(w)} has no cert-manager.io/inject-ca-from annotation`);
    } else if (!certificates.some((c) => `${c.metadata?.namespace}/${c.metadata?.name}` === inject)) {
      problems.push(`${where}: ${id(w)} injects the CA from ${inject}, which is no Certificate of the components`);
    }
    for (const hook of asArray(get(w, 'webhooks'))) {
      const svc = get(hook, 'clientConfig', 'service');
      const name = String(get(svc, 'name') ?? '');
      const namespace = String(get(svc, 'namespace') ?? '');
      if (!services.some((s) => s.metadata?.name === name && s.metadata?.namespace === namespace)) {
        problems.push(`${where}: ${id(w)} webhook ${String(get(hook, 'name'))} calls Service ${namespace}/${name}, which the components do not have`);
      }
    }
  }
  return problems;
}

interface ReleaseSeries {
  major: number;
  minor: number;
  contract: string;
}

/** Checks a clusterctl metadata.yaml: its format, and that `version`'s release series implements `contract`. */
export function checkMetadata(text: string, where: string, version: string, contract = IRONPLANE_CONTRACT): string[] {
  const { docs, problems } = parseYaml(text, where);
  const meta = docs[0];
  if (!meta) return problems.length > 0 ? problems : [`${where}: empty`];
  if (meta.apiVersion !== 'clusterctl.cluster.x-k8s.io/v1alpha3') problems.push(`${where}: apiVersion ${meta.apiVersion}, want clusterctl.cluster.x-k8s.io/v1alpha3`);
  if (meta.kind !== 'Metadata') problems.push(`${where}: kind ${meta.kind}, want Metadata`);
  const m = /^v(\d+)\.(\d+)\.\d+/.exec(version);
  if (!m) return [...problems, `${where}: version ${version} is not vMAJOR.MINOR.PATCH`];
  const series = asArray(meta['releaseSeries']) as ReleaseSeries[];
  const own = series.find((s) => s.major === Number(m[1]) && s.minor === Number(m[2]));
  if (!own) problems.push(`${where}: no release series ${m[1]}.${m[2]} for version ${version}`);
  else if (own.contract !== contract) problems.push(`${where}: release series ${m[1]}.${m[2]} declares contract ${own.contract}, but the CRDs carry cluster.x-k8s.io/${contract}`);
  return problems;
}

/**
 * Checks a cluster template: it parses, its variables have defaults (but for
 * the ones clusterctl sets), and each Cluster's ClusterClass is one of
 * `classes` (published beside it).
 */
export function checkClusterTemplate(text: string, where: string, classes: readonly string[]): string[] {
  const { docs, problems } = parseYaml(text, where);
  problems.push(...checkVariables(text, where, CLUSTERCTL_SET_VARIABLES));
  const clusters = docs.filter((o) => o.kind === 'Cluster');
  if (clusters.length === 0 && problems.length === 0) problems.push(`${where}: no Cluster`);
  for (const c of clusters) {
    const cls = get(c, 'spec', 'topology', 'classRef', 'name');
    if (typeof cls === 'string' && !classes.includes(cls)) {
      problems.push(`${where}: ${id(c)} uses ClusterClass ${cls}, but only ${classes.map((x) => `clusterclass-${x}.yaml`).join(', ') || 'no ClusterClass'} is published with it`);
    }
  }
  return problems;
}

/** Checks a ClusterClass definition: it parses, has the ClusterClass `name`, uses no variables and sets no namespaces (clusterctl's contract). */
export function checkClusterClass(text: string, where: string, name: string): string[] {
  const { docs, problems } = parseYaml(text, where);
  for (const v of variablesOf(text)) problems.push(`${where}: uses variable \${${v.name}}: ClusterClass definitions take none (their variables are the ClusterClass's own)`);
  if (!docs.some((o) => o.kind === 'ClusterClass' && o.metadata?.name === name)) problems.push(`${where}: no ClusterClass named ${name}`);
  for (const o of docs) if (o.metadata?.namespace) problems.push(`${where}: ${id(o)} sets a namespace: clusterctl places ClusterClass definitions in the Cluster's`);
  return problems;
}

/** Checks the ExtensionConfig published beside the runtime extension's components: it names their Service and Certificate Secret. */
export function checkExtensionConfig(text: string, where: string, componentsText: string): string[] {
  const { docs, problems } = parseYaml(text, where);
  const components = parseYaml(componentsText, 'components').docs;
  const ec = docs.find((o) => o.kind === 'ExtensionConfig');
  if (!ec) return [...problems, `${where}: no ExtensionConfig`];
  const svc = get(ec, 'spec', 'clientConfig', 'service');
  const svcKey = `${String(get(svc, 'namespace'))}/${String(get(svc, 'name'))}`;
  if (!components.some((o) => o.kind === 'Service' && `${o.metadata?.namespace}/${o.metadata?.name}` === svcKey)) {
    problems.push(`${where}: ExtensionConfig calls Service ${svcKey}, which the runtime extension's components do not have`);
  }
  const secret = ec.metadata?.annotations?.['runtime.cluster.x-k8s.io/inject-ca-from-secret'] ?? '';
  if (!components.some((o) => o.kind === 'Certificate' && `${o.metadata?.namespace}/${String(get(o, 'spec', 'secretName'))}` === secret)) {
    problems.push(`${where}: ExtensionConfig injects the CA from Secret ${secret || '(no annotation)'}, which no Certificate of the components issues`);
  }
  return problems;
}

/** Checks everything config/release/build.sh writes for `version` under `dir`. */
export function verifyRelease(dir: string, version = releaseVersion()): string[] {
  const problems: string[] = [];
  const read = (p: string): string | undefined => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      problems.push(`${path.relative(REPO, p) || p}: missing (run 'make release-manifests')`);
      return undefined;
    }
  };
  for (const p of IRONPLANE_PROVIDERS) {
    const base = path.join(dir, p.label, version);
    const rel = (f: string): string => path.relative(REPO, path.join(base, f));
    const components = read(path.join(base, p.components));
    if (components !== undefined) problems.push(...checkComponents(components, rel(p.components), p.label));
    const metadata = read(path.join(base, 'metadata.yaml'));
    if (metadata !== undefined) problems.push(...checkMetadata(metadata, rel('metadata.yaml'), version));
    if (p.clusterClass) {
      const cc = read(path.join(base, `clusterclass-${p.clusterClass}.yaml`));
      if (cc !== undefined) problems.push(...checkClusterClass(cc, rel(`clusterclass-${p.clusterClass}.yaml`), p.clusterClass));
      const tpl = read(path.join(base, 'cluster-template.yaml'));
      if (tpl !== undefined) problems.push(...checkClusterTemplate(tpl, rel('cluster-template.yaml'), [p.clusterClass]));
    }
    if (p.type === 'RuntimeExtensionProvider') {
      const ec = read(path.join(base, 'extensionconfig.yaml'));
      if (ec !== undefined && components !== undefined) problems.push(...checkExtensionConfig(ec, rel('extensionconfig.yaml'), components));
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Commands.

export interface CommandResult {
  stdout: string;
  stderr: string;
  durationMs: number;
}

const tailOf = (s: string, lines = 30): string => s.trimEnd().split('\n').slice(-lines).join('\n');

/** Runs a command with argv (no shell), output captured; a failure names the command and shows the tail of its output. */
export function runCommand(file: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CommandResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { cwd: opts.cwd ?? REPO, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const durationMs = Date.now() - t0;
        if (err) {
          const how = err.killed ? `timed out after ${durationMs} ms` : `failed (${err.code ?? err.signal ?? err.message})`;
          const out = tailOf(stderr) || tailOf(stdout) || err.message;
          reject(new Error(`${path.basename(file)} ${args.join(' ')} ${how}:\n${out}`));
        } else {
          resolve({ stdout, stderr, durationMs });
        }
      },
    );
  });
}

/** Where bin/ tools live: $IRONPLANE_BIN_DIR, else $BIN_DIR, else <repo>/bin. */
export function binDir(): string {
  return path.resolve(process.env['IRONPLANE_BIN_DIR'] ?? process.env['BIN_DIR'] ?? path.join(REPO, 'bin'));
}

function tool(name: string): string {
  const p = path.join(binDir(), name);
  try {
    fs.accessSync(p, fs.constants.X_OK);
  } catch {
    throw new Error(`${name} not found at ${p}: run 'make tools'`);
  }
  return p;
}

/** The directory and version of a module pinned by the wrapper module hack/tools/<wrapper>, downloaded into the module cache if needed. */
export async function pinnedModule(wrapper: string, module: string): Promise<{ dir: string; version: string }> {
  const cwd = path.join(REPO, 'hack/tools', wrapper);
  const list = async (): Promise<{ dir: string; version: string }> => {
    const { stdout } = await runCommand('go', ['list', '-m', '-f', '{{.Dir}}|{{.Version}}', module], { cwd });
    const [dir = '', version = ''] = stdout.trim().split('|');
    return { dir, version };
  };
  let found = await list();
  if (!found.dir) {
    await runCommand('go', ['mod', 'download', module], { cwd, timeoutMs: 600_000 });
    found = await list();
  }
  if (!found.dir || !found.version) throw new Error(`go list -m ${module} in hack/tools/${wrapper} found no module directory: is it required by its go.mod?`);
  return found;
}

export interface LocalRepositoryOptions {
  /** Where Ironplane's release artifacts are (config/release/build.sh's output). Default <repo>/out. */
  releaseDir?: string;
  /** Variables written into the clusterctl config. Default DEFAULT_VARIABLES. */
  variables?: Record<string, string>;
}

export interface LocalRepository {
  /** The clusterctl config (providers with file:// URLs, variables). */
  configPath: string;
  /** Provider versions, by clusterctl provider name. */
  versions: Record<string, string>;
  /** Every provider of the repository. */
  providers: (ProviderSpec & { version: string; url: string })[];
}

function copyInto(src: string, destDir: string, name = path.basename(src)): void {
  fs.mkdirSync(destDir, { recursive: true });
  fs.copyFileSync(src, path.join(destDir, name));
}

/**
 * Lays out a clusterctl local repository in `dir` and writes its clusterctl
 * config, whose path it returns (with the versions, in the result):
 * - cluster-api: core components built with kustomize from the pinned CAPI
 *   module's config/default, as CAPI's release does (the image set to the
 *   released one), and the module's metadata.yaml;
 * - kamaji: the Kamaji control-plane provider's own released components and
 *   metadata from its pinned module (contract v1beta1, which clusterctl
 *   v1.13 installs next to v1beta2 providers);
 * - ours: copied from the release dir (run `make release-manifests` first).
 * Variables in the components stay as they are: clusterctl substitutes them.
 */
export async function buildLocalRepository(dir: string, opts: LocalRepositoryOptions = {}): Promise<LocalRepository> {
  const releaseDir = opts.releaseDir ?? path.join(REPO, 'out');
  const version = releaseVersion();
  const problems = verifyRelease(releaseDir, version);
  if (problems.length > 0) throw new Error(`release artifacts in ${releaseDir} are not usable:\n${problems.join('\n')}`);
  fs.mkdirSync(dir, { recursive: true });
  const providers: LocalRepository['providers'] = [];
  const add = (p: ProviderSpec, v: string): void => {
    providers.push({ ...p, version: v, url: `file://${path.join(dir, p.label, v, p.components)}` });
  };

  // Cluster API core: kustomize over the module's config/default, through a
  // small overlay that sets the released image like CAPI's release-manifests.
  const capi = await pinnedModule('capi', 'sigs.k8s.io/cluster-api');
  const overlay = path.join(dir, '.kustomize', 'cluster-api');
  fs.mkdirSync(overlay, { recursive: true });
  fs.writeFileSync(
    path.join(overlay, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      // kustomize takes another kustomization only by a relative path.
      `  - ${path.relative(overlay, path.join(capi.dir, 'config/default'))}`,
      'images:',
      '  - name: gcr.io/k8s-staging-cluster-api/cluster-api-controller',
      '    newName: registry.k8s.io/cluster-api/cluster-api-controller',
      `    newTag: ${capi.version}`,
      '',
    ].join('\n'),
  );
  const core = path.join(dir, CAPI_PROVIDER.label, capi.version);
  fs.mkdirSync(core, { recursive: true });
  const built = await runCommand(tool('kustomize'), ['build', '--load-restrictor', 'LoadRestrictionsNone', overlay], { timeoutMs: 300_000 });
  fs.writeFileSync(path.join(core, CAPI_PROVIDER.components), built.stdout);
  copyInto(path.join(capi.dir, 'metadata.yaml'), core);
  add(CAPI_PROVIDER, capi.version);

  // Kamaji control-plane provider: its released components YAML.
  const kamaji = await pinnedModule('kamaji', 'github.com/clastix/cluster-api-control-plane-provider-kamaji');
  const kamajiDir = path.join(dir, KAMAJI_PROVIDER.label, kamaji.version);
  copyInto(path.join(kamaji.dir, 'config', KAMAJI_PROVIDER.components), kamajiDir);
  copyInto(path.join(kamaji.dir, 'config', 'metadata.yaml'), kamajiDir);
  add(KAMAJI_PROVIDER, kamaji.version);

  for (const p of IRONPLANE_PROVIDERS) {
    const src = path.join(releaseDir, p.label, version);
    const dest = path.join(dir, p.label, version);
    for (const f of fs.readdirSync(src)) copyInto(path.join(src, f), dest);
    add(p, version);
  }

  const variables = opts.variables ?? DEFAULT_VARIABLES;
  const configPath = path.join(dir, 'clusterctl.yaml');
  const lines = [
    '# clusterctl config of a local repository (test/e2e/clusterctl.ts buildLocalRepository).',
    'providers:',
    ...providers.flatMap((p) => [`  - name: ${p.name}`, `    type: ${p.type}`, `    url: ${p.url}`]),
    ...(Object.keys(variables).length > 0 ? ['', ...Object.entries(variables).map(([k, v]) => `${k}: ${JSON.stringify(v)}`)] : []),
    '',
  ];
  fs.writeFileSync(configPath, lines.join('\n'));
  return { configPath, versions: Object.fromEntries(providers.map((p) => [p.name, p.version])), providers };
}

export interface ClusterctlOptions {
  /** Extra environment (e.g. clusterctl variables); HOME and XDG dirs are set inside the config's dir. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Runs bin/clusterctl with the version check off and HOME/XDG dirs of its own,
 * so ~/.cluster-api (config, overrides, logs) is neither read nor written:
 * with a config, `--config` and a home beside it; without one, a temporary
 * home (removed afterwards). The process environment passes through, so
 * clusterctl variables (IRONPLANE_IMAGE, ...) set there apply.
 */
export async function clusterctl(configPath: string | undefined, args: readonly string[], opts: ClusterctlOptions = {}): Promise<CommandResult> {
  const temporary = configPath === undefined;
  const home = temporary ? fs.mkdtempSync(path.join(os.tmpdir(), 'ironplane-clusterctl-home-')) : path.join(path.dirname(path.resolve(configPath)), 'home');
  try {
    for (const d of ['', '.config', '.cache']) fs.mkdirSync(path.join(home, d), { recursive: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
      CLUSTERCTL_DISABLE_VERSIONCHECK: 'true',
      ...opts.env,
    };
    return await runCommand(tool('clusterctl'), [...args, ...(configPath ? ['--config', configPath] : [])], { env, timeoutMs: opts.timeoutMs ?? 300_000 });
  } finally {
    if (temporary) fs.rmSync(home, { recursive: true, force: true });
  }
}

/**
 * `clusterctl init` of every provider of the local repository. cert-manager
 * must be present (its CRDs are enough here: clusterctl only creates a test
 * Issuer and Certificate to find it). No --wait-providers: the Deployments
 * never run on the local plane.
 */
export function clusterctlInit(kubeconfigPath: string, configPath: string, opts: ClusterctlOptions & { extraArgs?: string[] } = {}): Promise<CommandResult> {
  return clusterctl(
    configPath,
    [
      'init',
      '--core',
      'cluster-api',
      '--infrastructure',
      'ironplane-kvm,ironplane-metal',
      '--bootstrap',
      'ironplane-kairos',
      '--control-plane',
      'kamaji',
      '--runtime-extension',
      'ironplane',
      '--kubeconfig',
      kubeconfigPath,
      ...(opts.extraArgs ?? []),
    ],
    opts,
  );
}

/** `clusterctl generate <args>`, e.g. ['cluster', 'prod', '--infrastructure', 'ironplane-kvm', ...]; resolves to the YAML it prints. */
export async function clusterctlGenerate(configPath: string, args: readonly string[], opts: ClusterctlOptions = {}): Promise<string> {
  return (await clusterctl(configPath, ['generate', ...args], opts)).stdout;
}

export interface DescribeOptions extends ClusterctlOptions {
  kubeconfig: string;
  cluster: string;
  namespace: string;
  /** A clusterctl config; describe needs none. */
  config?: string;
  /** More flags, e.g. ['--show-conditions', 'all']. */
  args?: readonly string[];
}

/** `clusterctl describe cluster <cluster> --namespace <namespace>`; resolves to the tree it prints. */
export async function clusterctlDescribe(o: DescribeOptions): Promise<string> {
  return (await clusterctl(o.config, ['describe', 'cluster', o.cluster, '--namespace', o.namespace, '--kubeconfig', o.kubeconfig, ...(o.args ?? [])], o)).stdout;
}

export interface MoveOptions extends ClusterctlOptions {
  /** The source management cluster. */
  kubeconfig: string;
  /** The target management cluster (initialised with the same providers). */
  toKubeconfig: string;
  namespace: string;
  config?: string;
  /** More flags, e.g. ['--dry-run']. */
  args?: readonly string[];
}

/** `clusterctl move` of a namespace's Clusters to another management cluster; resolves to what it printed. */
export async function clusterctlMove(o: MoveOptions): Promise<string> {
  const r = await clusterctl(o.config, ['move', '--kubeconfig', o.kubeconfig, '--to-kubeconfig', o.toKubeconfig, '--namespace', o.namespace, ...(o.args ?? [])], o);
  return r.stdout + r.stderr;
}

// ---------------------------------------------------------------------------
// After init: webhooks on loopback.

const ValidatingWebhookConfigurations: ResourceType = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  kind: 'ValidatingWebhookConfiguration',
  plural: 'validatingwebhookconfigurations',
  namespaced: false,
};
const MutatingWebhookConfigurations: ResourceType = { ...ValidatingWebhookConfigurations, kind: 'MutatingWebhookConfiguration', plural: 'mutatingwebhookconfigurations' };

export interface LoopbackWebhooks {
  /** https://127.0.0.1:<port> */
  url: string;
  port: number;
  /** tls.crt and tls.key for 127.0.0.1, issued by the plane's CA: the manager's --webhook-cert-dir. */
  certDir: string;
}

/**
 * Points what `clusterctl init` installed for one provider (objects labelled
 * cluster.x-k8s.io/provider=<label>) at https://127.0.0.1:<port>, as envtest
 * does: its admission webhook configurations (each webhook at the path of its
 * Service reference) and the conversion webhooks of its CRDs, trusting the
 * plane's CA; and writes the serving certificate the manager then serves
 * with. The result fits test/integration/roles.ts managerArgs's webhook
 * argument. Cluster API core's are startCapiManager's job.
 */
export async function pointAtLoopback(cp: ControlPlane, client: Client, label: string, opts: { port?: number } = {}): Promise<LoopbackWebhooks> {
  const port = opts.port ?? (await freePorts(1))[0];
  if (port === undefined) throw new Error('no free port for the webhook server');
  const url = `https://127.0.0.1:${port}`;
  const certDir = path.join(cp.dir, `${label}-webhook-certs`);
  fs.mkdirSync(certDir, { recursive: true });
  const serving = await issueCert({ ca: cp.ca, commonName: `${label}-webhook`, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usages: 'server' });
  fs.writeFileSync(path.join(certDir, 'tls.crt'), serving.certPem);
  fs.writeFileSync(path.join(certDir, 'tls.key'), serving.keyPem, { mode: 0o600 });

  const labelSelector = `cluster.x-k8s.io/provider=${label}`;
  const configs: KubeObject[] = [];
  for (const rt of [ValidatingWebhookConfigurations, MutatingWebhookConfigurations]) {
    for (const o of (await client.list<KubeObject & { webhooks?: unknown[] }>(rt, { labelSelector })).items) {
      // Applied back with only what the configuration says, not the server's bookkeeping.
      configs.push({ apiVersion: 'admissionregistration.k8s.io/v1', kind: rt.kind, metadata: { name: o.metadata?.name, labels: o.metadata?.labels }, webhooks: o.webhooks } as KubeObject);
    }
  }
  await installWebhookConfigurations(client, configs, url, cp.ca.certPem);
  const crds = (await client.list<KubeObject & { spec?: { conversion?: { strategy?: string } } }>(CustomResourceDefinitions, { labelSelector })).items;
  const converted = crds.filter((c) => c.spec?.conversion?.strategy === 'Webhook').map((c) => c.metadata?.name ?? '');
  if (converted.length > 0) await pointConversionWebhooks(client, converted, url, cp.ca.certPem);
  return { url, port, certDir };
}

/**
 * `clusterctl init` of a real management cluster (kind, say) whose provider
 * Deployments run: clusterctl installs cert-manager itself when it is
 * missing, waits for every provider, and then the ExtensionConfig published
 * with the runtime extension is applied (Cluster API's webhooks admit it once
 * the core provider serves). What `make e2e-kind` runs before the e2e.
 */
export async function initRunningCluster(kubeconfigPath: string, repositoryDir: string, opts: LocalRepositoryOptions & { timeoutMs?: number } = {}): Promise<LocalRepository> {
  const repo = await buildLocalRepository(repositoryDir, opts);
  const timeoutMs = opts.timeoutMs ?? 900_000;
  await clusterctlInit(kubeconfigPath, repo.configPath, { extraArgs: ['--wait-providers', '--wait-provider-timeout', String(Math.floor(timeoutMs / 1000))], timeoutMs });
  const ext = IRONPLANE_PROVIDERS.find((p) => p.type === 'RuntimeExtensionProvider')!;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const client = new Client(kc, { fieldManager: 'ironplane-e2e', timeoutMs: 30_000 });
  try {
    const ExtensionConfigs: ResourceType = { group: 'runtime.cluster.x-k8s.io', version: 'v1beta2', kind: 'ExtensionConfig', plural: 'extensionconfigs', namespaced: false };
    for (const o of parseYaml(fs.readFileSync(path.join(repositoryDir, ext.label, repo.versions[ext.name]!, 'extensionconfig.yaml'), 'utf8'), 'extensionconfig.yaml').docs) {
      await client.apply(ExtensionConfigs, o, { force: true });
    }
  } finally {
    client.close();
  }
  return repo;
}

// As a script, for make:
//   node --import tsx test/e2e/clusterctl.ts verify-release [out-dir]    what `make release-manifests` checks
//   node --import tsx test/e2e/clusterctl.ts init-running <kubeconfig>   what `make e2e-kind` initialises
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, arg] = process.argv.slice(2);
  if (cmd === 'verify-release') {
    const out = path.resolve(arg ?? path.join(REPO, 'out'));
    const problems = verifyRelease(out);
    if (problems.length > 0) {
      console.error(`release-manifests: ${problems.length} problem(s) in ${out}:\n  ${problems.join('\n  ')}`);
      process.exit(1);
    }
    console.log(`release-manifests: ${out} passes clusterctl's provider contract checks`);
  } else if (cmd === 'init-running' && arg) {
    const dir = path.join(REPO, '.tmp', 'clusterctl-repository');
    initRunningCluster(path.resolve(arg), dir).then(
      (repo) => console.log(`clusterctl init: ${repo.providers.map((p) => `${p.name} ${p.version}`).join(', ')} running; clusterctl config ${repo.configPath}`),
      (e: Error) => {
        console.error(e.message);
        process.exit(1);
      },
    );
  } else {
    console.error('usage: clusterctl.ts verify-release [out-dir] | init-running <kubeconfig>');
    process.exit(2);
  }
}
