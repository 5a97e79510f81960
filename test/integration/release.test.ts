// The clusterctl release: `make release-manifests` builds each provider's
// components YAML with kustomize from config/release, and those artifacts,
// with Cluster API core and the Kamaji provider from their pinned modules,
// form a local repository that the real clusterctl installs into a real
// apiserver. Then clusterctl's cluster template of each infrastructure
// provider gives a Cluster the apiserver accepts, through Cluster API's
// webhooks and ours, served on loopback.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clusters } from '../../providers/capi/contract.js';
import { Client } from '../../providers/kit/client.js';
import { Namespaces, type KubeObject, type ResourceType } from '../../providers/kit/types.js';
import { startCapiManager, startControlPlane, type ControlPlane } from '../harness/index.js';
import {
  buildLocalRepository,
  checkClusterClass,
  checkClusterTemplate,
  checkComponents,
  checkExtensionConfig,
  checkMetadata,
  clusterctlDescribe,
  clusterctlGenerate,
  clusterctlInit,
  clusterctlMove,
  IRONPLANE_PROVIDERS,
  pointAtLoopback,
  releaseVersion,
  variablesOf,
  verifyRelease,
  type LocalRepository,
} from '../e2e/clusterctl.js';
import { CLASS_KINDS } from '../e2e/world.js';
import { REPO, until } from './processes.js';
import { managerArgs, RoleManager } from './roles.js';

const OUT = path.join(REPO, 'out');
const VERSION = releaseVersion();

type Obj = KubeObject & Record<string, unknown>;

function docsOf(file: string): Obj[] {
  return parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

const rt = (group: string, version: string, kind: string, plural: string, namespaced = true): ResourceType => ({ group, version, kind, plural, namespaced });
const RESOURCES: Record<string, ResourceType> = { ...CLASS_KINDS, Cluster: Clusters };
const Providers = rt('clusterctl.cluster.x-k8s.io', 'v1alpha3', 'Provider', 'providers');

describe('make release-manifests', () => {
  beforeAll(() => {
    const r = spawnSync('make', ['--no-print-directory', 'release-manifests'], { cwd: REPO, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`make release-manifests failed (${r.status}):\n${r.stdout}${r.stderr}`);
  }, 300_000);

  const components = (label: string): Obj[] => {
    const p = IRONPLANE_PROVIDERS.find((x) => x.label === label)!;
    return docsOf(path.join(OUT, label, VERSION, p.components));
  };

  it('given the built release, should pass every contract check', () => {
    expect(verifyRelease(OUT)).toEqual([]);
  });

  it.each(IRONPLANE_PROVIDERS.map((p) => [p.label]))('given %s, should hold exactly one Namespace, a manager container and the provider label on everything', (label) => {
    const docs = components(label);
    expect(docs.filter((o) => o.kind === 'Namespace')).toHaveLength(1);
    // One manager per provider; a provider may run another role beside it (the KvmCluster provider's network manager).
    const deployments = (docs.filter((o) => o.kind === 'Deployment') as (Obj & { spec: { template: { spec: { containers: { name: string; image: string }[] } } } })[]).filter((d) =>
      d.spec.template.spec.containers.some((c) => c.name === 'manager'),
    );
    expect(deployments).toHaveLength(1);
    expect(deployments[0]!.spec.template.spec.containers.map((c) => c.name)).toEqual(['manager']);
    expect(deployments[0]!.spec.template.spec.containers[0]!.image).toBe(`\${IRONPLANE_IMAGE:=ghcr.io/ironplane/ironplane}:\${IRONPLANE_VERSION:=${VERSION}}`);
    expect(docs.filter((o) => o.metadata?.labels?.['cluster.x-k8s.io/provider'] !== label).map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([]);
  });

  it.each(IRONPLANE_PROVIDERS.map((p) => [p.label]))('given %s, should give every variable a default', (label) => {
    const p = IRONPLANE_PROVIDERS.find((x) => x.label === label)!;
    const vars = variablesOf(fs.readFileSync(path.join(OUT, label, VERSION, p.components), 'utf8'));
    expect(vars.length).toBeGreaterThan(0);
    expect(vars.filter((v) => v.default === '')).toEqual([]);
  });

  it.each(IRONPLANE_PROVIDERS.map((p) => [p.label]))('given %s, should issue a cert-manager Certificate for the Secret its manager mounts', (label) => {
    const docs = components(label);
    const secrets = docs.filter((o) => o.kind === 'Certificate').map((c) => (c['spec'] as { secretName: string }).secretName);
    const deployment = docs.find((o) => o.kind === 'Deployment' && o.metadata?.name === 'ironplane-controller-manager') as Obj & { spec: { template: { spec: { volumes: { secret?: { secretName: string } }[] } } } };
    const mounted = deployment.spec.template.spec.volumes.map((v) => v.secret?.secretName);
    expect(secrets.length).toBe(1);
    expect(mounted).toContain(secrets[0]);
  });

  it('given the webhook-serving managers, should inject the CA of their Certificate into their webhook configurations', () => {
    for (const label of ['infrastructure-ironplane-kvm', 'infrastructure-ironplane-metal', 'bootstrap-ironplane-kairos']) {
      const docs = components(label);
      const ns = docs.find((o) => o.kind === 'Namespace')!.metadata!.name;
      const cert = docs.find((o) => o.kind === 'Certificate')!;
      const hooks = docs.filter((o) => o.kind === 'ValidatingWebhookConfiguration');
      expect(hooks.length, label).toBe(1);
      expect(hooks[0]!.metadata?.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${ns}/${cert.metadata?.name}`);
      for (const h of hooks[0]!['webhooks'] as { clientConfig: { service: { namespace: string } } }[]) expect(h.clientConfig.service.namespace).toBe(ns);
    }
  });

  it('given metadata.yaml, should declare for this version the contract every CRD is labelled with', () => {
    const meta = docsOf(path.join(REPO, 'metadata.yaml'))[0] as Obj & { releaseSeries: { major: number; minor: number; contract: string }[] };
    const [major, minor] = VERSION.slice(1).split('.').map(Number);
    const contract = meta.releaseSeries.find((s) => s.major === major && s.minor === minor)?.contract;
    expect(contract).toBe('v1beta2');
    for (const p of IRONPLANE_PROVIDERS) {
      expect(fs.readFileSync(path.join(OUT, p.label, VERSION, 'metadata.yaml'), 'utf8')).toBe(fs.readFileSync(path.join(REPO, 'metadata.yaml'), 'utf8'));
      for (const crd of components(p.label).filter((o) => o.kind === 'CustomResourceDefinition')) {
        expect(crd.metadata?.labels?.[`cluster.x-k8s.io/${contract}`], crd.metadata?.name).toBe('v1alpha1');
      }
    }
  });

  it('given the cluster templates and ClusterClasses, should parse and name a published class', () => {
    for (const [label, cls] of [
      ['infrastructure-ironplane-kvm', 'ironplane-kvm'],
      ['infrastructure-ironplane-metal', 'ironplane-metal'],
    ] as const) {
      const cluster = docsOf(path.join(OUT, label, VERSION, 'cluster-template.yaml')).find((o) => o.kind === 'Cluster')!;
      expect((cluster['spec'] as { topology: { classRef: { name: string } } }).topology.classRef.name).toBe(cls);
      expect(docsOf(path.join(OUT, label, VERSION, `clusterclass-${cls}.yaml`)).find((o) => o.kind === 'ClusterClass')?.metadata?.name).toBe(cls);
    }
  });
});

describe('the release checks, given bad input', () => {
  const NS = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: p-system\n  labels: {cluster.x-k8s.io/provider: infrastructure-x}\n';
  const CERT = [
    'apiVersion: cert-manager.io/v1',
    'kind: Certificate',
    'metadata: {name: serving, namespace: p-system, labels: {cluster.x-k8s.io/provider: infrastructure-x}}',
    'spec: {secretName: serving-cert, dnsNames: [svc.p-system.svc], issuerRef: {kind: Issuer, name: self}}',
    '---',
    'apiVersion: cert-manager.io/v1',
    'kind: Issuer',
    'metadata: {name: self, namespace: p-system, labels: {cluster.x-k8s.io/provider: infrastructure-x}}',
    'spec: {selfSigned: {}}',
    '---',
    'apiVersion: v1',
    'kind: Service',
    'metadata: {name: svc, namespace: p-system, labels: {cluster.x-k8s.io/provider: infrastructure-x}}',
    'spec: {ports: [{port: 443}]}',
    '',
  ].join('\n');
  const deployment = (container = 'manager', image = '${IMG:=x}'): string =>
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: {name: m, namespace: p-system, labels: {cluster.x-k8s.io/provider: infrastructure-x}}',
      `spec: {template: {spec: {containers: [{name: ${container}, image: "${image}"}], volumes: [{name: cert, secret: {secretName: serving-cert}}]}}}`,
      '',
    ].join('\n');
  const good = [NS, CERT, deployment()].join('---\n');
  const check = (text: string): string[] => checkComponents(text, 'c.yaml', 'infrastructure-x');

  it('given a well-formed components YAML, should find nothing', () => {
    expect(check(good)).toEqual([]);
  });

  it('given two Namespaces, should say clusterctl needs exactly one', () => {
    const two = [good, NS.replace('p-system', 'other-system')].join('---\n');
    expect(check(two)).toContain("c.yaml: 2 Namespace objects (Namespace/p-system, Namespace/other-system), want exactly one: clusterctl's default target namespace");
  });

  it('given no Namespace, should say so', () => {
    expect(check([CERT, deployment()].join('---\n'))[0]).toBe("c.yaml: 0 Namespace objects (none), want exactly one: clusterctl's default target namespace");
  });

  it('given a container not named manager, should name the contract', () => {
    expect(check([NS, CERT, deployment('controller')].join('---\n'))).toContain('c.yaml: no Deployment with a container named "manager" (clusterctl\'s contract)');
  });

  it('given a variable without a default, or with an empty one, should name it', () => {
    const problems = check([NS, CERT, deployment('manager', '${IMG}:${TAG:=}')].join('---\n'));
    expect(problems).toContain(
      'c.yaml: variable ${IMG} has no default (clusterctl takes an empty one for none): write ${IMG:=<default>}, or make it one clusterctl sets (CLUSTER_NAME, NAMESPACE)',
    );
    expect(problems.some((p) => p.startsWith('c.yaml: variable ${TAG} has no default'))).toBe(true);
  });

  it('given an object without the provider label, or outside the namespace, should name it', () => {
    const stray = 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa, namespace: elsewhere}\n';
    const problems = check([good, stray].join('---\n'));
    expect(problems).toContain('c.yaml: ServiceAccount/elsewhere/sa has label cluster.x-k8s.io/provider=(none), want infrastructure-x');
    expect(problems).toContain("c.yaml: ServiceAccount/elsewhere/sa is not in the provider's namespace p-system");
  });

  it('given a manager that mounts no Certificate Secret, should say it serves HTTPS', () => {
    const text = good.replace('secretName: serving-cert}}]', 'secretName: other}}]');
    expect(check(text)).toContain('c.yaml: no cert-manager Certificate whose Secret the manager Deployment mounts (it serves HTTPS)');
  });

  it('given a webhook configuration injecting from a missing Certificate and calling a missing Service, should name both', () => {
    const hook = [
      'apiVersion: admissionregistration.k8s.io/v1',
      'kind: ValidatingWebhookConfiguration',
      'metadata: {name: v, labels: {cluster.x-k8s.io/provider: infrastructure-x}, annotations: {cert-manager.io/inject-ca-from: ironplane-system/serving}}',
      'webhooks: [{name: a.x.dev, clientConfig: {service: {name: svc, namespace: ironplane-system, path: /v}}}]',
      '',
    ].join('\n');
    const problems = check([good, hook].join('---\n'));
    expect(problems).toContain('c.yaml: ValidatingWebhookConfiguration/v injects the CA from ironplane-system/serving, which is no Certificate of the components');
    expect(problems).toContain('c.yaml: ValidatingWebhookConfiguration/v webhook a.x.dev calls Service ironplane-system/svc, which the components do not have');
  });

  it('given a CRD without the contract label or misnamed, should say what CAPI expects', () => {
    const crd = (labels: string, name = 'things.x.dev'): string =>
      [
        'apiVersion: apiextensions.k8s.io/v1',
        'kind: CustomResourceDefinition',
        `metadata: {name: ${name}, labels: {cluster.x-k8s.io/provider: infrastructure-x${labels}}}`,
        'spec: {group: x.dev, names: {plural: things, kind: Thing}, scope: Namespaced, versions: [{name: v1alpha1, served: true, storage: true}]}',
        '',
      ].join('\n');
    expect(check([good, crd('')].join('---\n'))).toContain('c.yaml: CRD things.x.dev has no cluster.x-k8s.io/v1beta2 label: metadata.yaml declares contract v1beta2');
    expect(check([good, crd(', cluster.x-k8s.io/v1beta2: v1alpha1_v1alpha2')].join('---\n'))).toContain(
      'c.yaml: CRD things.x.dev label cluster.x-k8s.io/v1beta2=v1alpha1_v1alpha2 names v1alpha2, which it does not serve (v1alpha1)',
    );
    expect(check([good, crd(', cluster.x-k8s.io/v1beta2: v1alpha1', 'thing.x.dev')].join('---\n'))).toContain("c.yaml: CRD thing.x.dev must be named things.x.dev (CAPI's computed name)");
  });

  it('given YAML that does not parse, should say which document', () => {
    expect(check(`${good}---\nkind: [unclosed\n`)[0]).toMatch(/^c\.yaml: document 6 is not valid YAML: /);
  });

  it('given metadata.yaml whose release series declares another contract, or lacks the version, should say so', () => {
    const meta = (series: string): string => `apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n${series}`;
    expect(checkMetadata(meta('  - {major: 0, minor: 1, contract: v1beta2}\n'), 'metadata.yaml', 'v0.1.0')).toEqual([]);
    expect(checkMetadata(meta('  - {major: 0, minor: 1, contract: v1beta1}\n'), 'metadata.yaml', 'v0.1.0')).toEqual([
      'metadata.yaml: release series 0.1 declares contract v1beta1, but the CRDs carry cluster.x-k8s.io/v1beta2',
    ]);
    expect(checkMetadata(meta('  - {major: 0, minor: 1, contract: v1beta2}\n'), 'metadata.yaml', 'v0.2.0')).toEqual(['metadata.yaml: no release series 0.2 for version v0.2.0']);
    expect(checkMetadata('apiVersion: clusterctl.cluster.x-k8s.io/v1alpha2\nkind: Metadata\nreleaseSeries: []\n', 'metadata.yaml', 'v0.1.0')).toEqual([
      'metadata.yaml: apiVersion clusterctl.cluster.x-k8s.io/v1alpha2, want clusterctl.cluster.x-k8s.io/v1alpha3',
      'metadata.yaml: no release series 0.1 for version v0.1.0',
    ]);
  });

  it('given a cluster template that uses an unpublished class, lacks a default or does not parse, should say so', () => {
    const tpl = (cls: string, version = '${KUBERNETES_VERSION:=v1.35.0}'): string =>
      `apiVersion: cluster.x-k8s.io/v1beta2\nkind: Cluster\nmetadata: {name: "\${CLUSTER_NAME}", namespace: "\${NAMESPACE}"}\nspec: {topology: {classRef: {name: ${cls}}, version: "${version}"}}\n`;
    expect(checkClusterTemplate(tpl('ironplane-kvm'), 't.yaml', ['ironplane-kvm'])).toEqual([]);
    expect(checkClusterTemplate(tpl('other'), 't.yaml', ['ironplane-kvm'])).toEqual([
      't.yaml: Cluster/${NAMESPACE}/${CLUSTER_NAME} uses ClusterClass other, but only clusterclass-ironplane-kvm.yaml is published with it',
    ]);
    expect(checkClusterTemplate(tpl('ironplane-kvm', '${KUBERNETES_VERSION}'), 't.yaml', ['ironplane-kvm'])[0]).toMatch(/^t\.yaml: variable \$\{KUBERNETES_VERSION\} has no default/);
    expect(checkClusterTemplate('kind: [\n', 't.yaml', ['ironplane-kvm'])[0]).toMatch(/^t\.yaml: document 1 is not valid YAML: /);
  });

  it('given a ClusterClass definition with variables or namespaces, should say clusterctl places it', () => {
    const cc = 'apiVersion: cluster.x-k8s.io/v1beta2\nkind: ClusterClass\nmetadata: {name: c, namespace: team-a}\nspec: {x: "${X:=1}"}\n';
    expect(checkClusterClass(cc, 'cc.yaml', 'c')).toEqual([
      'cc.yaml: uses variable ${X}: ClusterClass definitions take none (their variables are the ClusterClass\'s own)',
      "cc.yaml: ClusterClass/team-a/c sets a namespace: clusterctl places ClusterClass definitions in the Cluster's",
    ]);
    expect(checkClusterClass(cc.replace('namespace: team-a', 'labels: {}').replace('${X:=1}', '1'), 'cc.yaml', 'd')).toEqual(['cc.yaml: no ClusterClass named d']);
  });

  it('given an ExtensionConfig that names another Service or Secret than the components, should say so', () => {
    const ec = (ns: string): string =>
      `apiVersion: runtime.cluster.x-k8s.io/v1beta2\nkind: ExtensionConfig\nmetadata: {name: e, annotations: {runtime.cluster.x-k8s.io/inject-ca-from-secret: ${ns}/serving-cert}}\nspec: {clientConfig: {service: {name: svc, namespace: ${ns}}}}\n`;
    expect(checkExtensionConfig(ec('p-system'), 'e.yaml', good)).toEqual([]);
    expect(checkExtensionConfig(ec('ironplane-system'), 'e.yaml', good)).toEqual([
      "e.yaml: ExtensionConfig calls Service ironplane-system/svc, which the runtime extension's components do not have",
      'e.yaml: ExtensionConfig injects the CA from Secret ironplane-system/serving-cert, which no Certificate of the components issues',
    ]);
  });

  it('given a release dir without the artifacts, should say to build them', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ironplane-release-'));
    try {
      expect(verifyRelease(empty)[0]).toBe(`${path.relative(REPO, path.join(empty, 'infrastructure-ironplane-kvm', VERSION, 'infrastructure-components.yaml'))}: missing (run 'make release-manifests')`);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('clusterctl init from the local repository', () => {
  let dir: string;
  let repo: LocalRepository;
  let cp: ControlPlane;
  let client: Client;
  let initMs = 0;
  let kairos: RoleManager | undefined;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ironplane-clusterctl-'));
    repo = await buildLocalRepository(path.join(dir, 'repository'));
    cp = await startControlPlane({ name: 'clusterctl', crds: [path.join(REPO, 'config/external/cert-manager')] });
    client = new Client(cp.kubeConfig, { fieldManager: 'release-test', timeoutMs: 30_000 });
    initMs = (await clusterctlInit(cp.kubeconfigPath, repo.configPath)).durationMs;
    console.log(JSON.stringify({ figure: 'clusterctl_init_ms', value: initMs, providers: repo.providers.length }));
  }, 300_000);

  afterAll(async () => {
    await kairos?.stop();
    client?.close();
    await cp?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('given the six providers, should list each in the inventory with its type and version', async () => {
    const inventory = (await client.list<KubeObject & { providerName: string; type: string; version: string }>(Providers)).items
      .map((p) => `${p.metadata?.namespace} ${p.providerName} ${p.type} ${p.version}`)
      .sort();
    expect(inventory).toEqual(
      [
        `capi-system cluster-api CoreProvider ${repo.versions['cluster-api']}`,
        `kamaji-system kamaji ControlPlaneProvider ${repo.versions['kamaji']}`,
        `ironplane-kvm-system ironplane-kvm InfrastructureProvider ${VERSION}`,
        `ironplane-metal-system ironplane-metal InfrastructureProvider ${VERSION}`,
        `ironplane-kairos-system ironplane-kairos BootstrapProvider ${VERSION}`,
        `ironplane-extension-system ironplane RuntimeExtensionProvider ${VERSION}`,
      ].sort(),
    );
    expect(repo.versions['cluster-api']).toBe('v1.13.6');
    expect(repo.versions['kamaji']).toBe('v0.15.2');
  });

  it('given the config\'s variables and the components\' defaults, should install Deployments with the flags the design needs', async () => {
    const Deployments = rt('apps', 'v1', 'Deployment', 'deployments');
    const args = async (ns: string): Promise<{ image: string; args: string[] }> => {
      const list = await client.list<KubeObject & { spec: { template: { spec: { containers: { name: string; image: string; args?: string[] }[] } } } }>(Deployments, { namespace: ns });
      const c = list.items[0]!.spec.template.spec.containers.find((x) => x.name === 'manager')!;
      return { image: c.image, args: c.args ?? [] };
    };
    const capi = await args('capi-system');
    expect(capi.image).toBe('registry.k8s.io/cluster-api/cluster-api-controller:v1.13.6');
    expect(capi.args.find((a) => a.startsWith('--feature-gates='))).toMatch(/ClusterTopology=true,RuntimeSDK=true/);
    const kamaji = await args('kamaji-system');
    expect(kamaji.args).toContain('--dynamic-infrastructure-clusters=KvmCluster,MetalCluster');
    expect(kamaji.args.find((a) => a.startsWith('--feature-gates='))).toContain('DynamicInfrastructureClusterPatch=true');
    const kvm = await args('ironplane-kvm-system');
    expect(kvm.image).toBe(`ghcr.io/ironplane/ironplane:${VERSION}`);
    expect(kvm.args).toEqual(expect.arrayContaining(['manager', '--role=kubevirt', '--leader-election-namespace=$(POD_NAMESPACE)', '--workers=4', '--log-level=info']));
    expect((await args('ironplane-extension-system')).args).toEqual(expect.arrayContaining(['extension', '--upgrade-concurrency=3']));
  });

  it('given a cluster template of each infrastructure provider, should generate a Cluster and its ClusterClass that the apiserver accepts through the webhooks', async () => {
    // Cluster API's webhooks (installed by clusterctl) on loopback, and ours:
    // KairosConfigTemplates are admitted by the kairos manager on create.
    await startCapiManager(cp);
    const hooks = await pointAtLoopback(cp, client, 'bootstrap-ironplane-kairos');
    kairos = new RoleManager('kairos', [...managerArgs('kairos', cp.kubeconfigPath, hooks), '--leader-election-namespace', 'ironplane-kairos-system'], hooks.port);
    kairos.start();
    await kairos.webhooksUp();

    for (const [infra, ns, cls] of [
      ['ironplane-kvm', 'team-a', 'ironplane-kvm'],
      ['ironplane-metal', 'team-b', 'ironplane-metal'],
    ] as const) {
      const yaml = await clusterctlGenerate(repo.configPath, ['cluster', 'prod', '--infrastructure', infra, '--target-namespace', ns, '--kubernetes-version', 'v1.35.0', '--worker-machine-count', '3', '--kubeconfig', cp.kubeconfigPath]);
      const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Obj);
      expect(docs.map((o) => o.kind)).toContain('ClusterClass');
      const cluster = docs.find((o) => o.kind === 'Cluster') as Obj & { spec: { topology: { classRef: { name: string }; version: string; workers: { machineDeployments: { replicas: number }[] } } } };
      expect(cluster.metadata).toMatchObject({ name: 'prod', namespace: ns });
      expect(cluster.spec.topology.classRef.name).toBe(cls);
      expect(cluster.spec.topology.version).toBe('v1.35.0');
      expect(cluster.spec.topology.workers.machineDeployments[0]!.replicas).toBe(3);

      await client.create(Namespaces, { metadata: { name: ns } });
      // The ClusterClass and its templates for real (CAPI's and our webhooks
      // admit them), then the Cluster as a server-side dry run.
      for (const o of docs.filter((x) => x.kind !== 'Cluster')) {
        const type = RESOURCES[o.kind!];
        if (!type) throw new Error(`no resource type for ${o.kind}`);
        await client.create(type, o, { fieldValidation: 'Strict' });
      }
      const dry = await client.create(Clusters, cluster, { dryRun: true, fieldValidation: 'Strict' });
      expect(dry.metadata?.name).toBe('prod');
    }
  });

  it('given a template file given with --from, should generate the same Cluster', async () => {
    const from = path.join(OUT, 'infrastructure-ironplane-kvm', VERSION, 'cluster-template.yaml');
    const yaml = await clusterctlGenerate(repo.configPath, ['cluster', 'other', '--from', from, '--target-namespace', 'team-a', '--kubeconfig', cp.kubeconfigPath]);
    const cluster = parseAllDocuments(yaml)
      .map((d) => d.toJS() as Obj)
      .find((o) => o.kind === 'Cluster') as Obj & { spec: { topology: { classRef: { name: string } } } };
    expect(cluster.spec.topology.classRef.name).toBe('ironplane-kvm');
    expect(cluster.metadata).toMatchObject({ name: 'other', namespace: 'team-a' });
  });

  it('given a created Cluster, should describe it', async () => {
    const yaml = await clusterctlGenerate(repo.configPath, ['cluster', 'described', '--infrastructure', 'ironplane-kvm', '--target-namespace', 'team-a', '--kubeconfig', cp.kubeconfigPath]);
    const cluster = parseAllDocuments(yaml)
      .map((d) => d.toJS() as Obj)
      .find((o) => o.kind === 'Cluster')!;
    await client.create(Clusters, cluster);
    const out = await until('clusterctl describe to show the Cluster', async () => {
      const text = await clusterctlDescribe({ kubeconfig: cp.kubeconfigPath, cluster: 'described', namespace: 'team-a' });
      return text.includes('Cluster/described') ? text : undefined;
    });
    expect(out).toContain('Cluster/described');
  });

  it('given a flavor that is not published, should fail naming the file with clusterctl\'s message', async () => {
    await expect(clusterctlGenerate(repo.configPath, ['cluster', 'x', '--infrastructure', 'ironplane-kvm', '--flavor', 'nope', '--target-namespace', 'team-a', '--kubeconfig', cp.kubeconfigPath])).rejects.toThrow(
      /clusterctl generate cluster x .* failed \(1\):\n[\s\S]*cluster-template-nope\.yaml/,
    );
  });

  it('given a target kubeconfig that does not exist, should fail the move with clusterctl\'s message', async () => {
    await expect(clusterctlMove({ kubeconfig: cp.kubeconfigPath, toKubeconfig: path.join(dir, 'missing.kubeconfig'), namespace: 'team-a', config: repo.configPath })).rejects.toThrow(/clusterctl move .* failed \(1\):\n[\s\S]*missing\.kubeconfig/);
  });
});
