import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { rootValidatorSchema, type Schema } from '../../../hack/gen/schema.js';
import { validateKairosConfigTemplate } from '../../api/generated/ironplane/v1alpha1/kairosconfigtemplate.js';
import { validateKamajiControlPlaneTemplate } from '../../api/generated/kamaji/v1alpha1/kamajicontrolplanetemplate.js';
import { validateKvmClusterTemplate } from '../../api/generated/ironplane/v1alpha1/kvmclustertemplate.js';
import { validateKvmMachineTemplate } from '../../api/generated/ironplane/v1alpha1/kvmmachinetemplate.js';
import { validateMetalClusterTemplate } from '../../api/generated/ironplane/v1alpha1/metalclustertemplate.js';
import { validateMetalMachineTemplate } from '../../api/generated/ironplane/v1alpha1/metalmachinetemplate.js';
import { formatErrors, type Validator } from '../../api/validate.js';
import type { GeneratePatchesRequest, GeneratePatchesResponse, TemplateObject } from '../api.js';
import { DEFAULT_PRIVATE_ENDPOINT_VIP } from '../privateendpointvip.js';
import { applyResponse, fixture, NO_RESERVED, opsOf } from '../testdata/fixtures.js';
import { generatePatches } from './generatepatches.js';

const IMG135 = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGc1cHkZ8Wm6kqv3GmK9m8n8v0x2b0aQ3YwTq1s2uVxY ops@example.com';

const ours: Record<string, Validator<unknown>> = {
  KvmClusterTemplate: validateKvmClusterTemplate,
  KvmMachineTemplate: validateKvmMachineTemplate,
  MetalClusterTemplate: validateMetalClusterTemplate,
  MetalMachineTemplate: validateMetalMachineTemplate,
  KairosConfigTemplate: validateKairosConfigTemplate,
};

/**
 * Kamaji's KamajiControlPlaneTemplate schemas by apiVersion: v1alpha1 from the
 * generated validator (config/external/kamaji, the pinned provider); v1alpha2
 * (provider v0.20) compiled from its CRD in the Go module cache when present.
 */
function kamajiValidators(): Map<string, (o: unknown) => string[]> {
  const out = new Map<string, (o: unknown) => string[]>();
  out.set('controlplane.cluster.x-k8s.io/v1alpha1', (o) => (validateKamajiControlPlaneTemplate(o) ? [] : formatErrors(validateKamajiControlPlaneTemplate.errors)));
  const modcache = process.env['GOMODCACHE'] ?? path.join(process.env['GOPATH'] ?? path.join(os.homedir(), 'go'), 'pkg', 'mod');
  const base = path.join(modcache, 'github.com', 'clastix');
  const dirs = fs.existsSync(base) ? fs.readdirSync(base).filter((d) => d.startsWith('cluster-api-control-plane-provider-kamaji@')).map((d) => path.join(base, d, 'config/crd/bases')) : [];
  for (const dir of dirs) {
    const f = path.join(dir, 'controlplane.cluster.x-k8s.io_kamajicontrolplanetemplates.yaml');
    if (!fs.existsSync(f)) continue;
    const crd = parse(fs.readFileSync(f, 'utf8')) as { spec: { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Schema } }[] } };
    for (const v of crd.spec.versions) {
      const apiVersion = `${crd.spec.group}/${v.name}`;
      if (out.has(apiVersion)) continue;
      const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
      addFormats.default(ajv, ['int32', 'int64']);
      const validate = ajv.compile(rootValidatorSchema({ group: crd.spec.group, version: v.name, kind: crd.spec.names.kind }, v.schema.openAPIV3Schema, { formats: new Set(['int32', 'int64']) }));
      out.set(apiVersion, (o) => (validate(o) ? [] : formatErrors(validate.errors)));
    }
  }
  return out;
}

/** Problems of a patched template against its CRD, as the apiserver would see the object made from it. */
function crdProblems(obj: TemplateObject, kamaji: Map<string, (o: unknown) => string[]>): string[] | undefined {
  const clean = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata?.name, namespace: obj.metadata?.namespace }, spec: obj.spec };
  const v = ours[obj.kind ?? ''];
  if (v) return v(clean) ? [] : formatErrors(v.errors);
  return kamaji.get(obj.apiVersion ?? '')?.(clean);
}

describe('GeneratePatches', () => {
  const kvm = fixture<GeneratePatchesRequest>('generatepatches-kvm');
  const metal = fixture<GeneratePatchesRequest>('generatepatches-metal');

  it('given the KVM topology, should patch each template from the variables', () => {
    const res = generatePatches(kvm, NO_RESERVED);
    expect(res.status).toBe('Success');
    expect(res.apiVersion).toBe('hooks.runtime.cluster.x-k8s.io/v1alpha1');
    expect(res.kind).toBe('GeneratePatchesResponse');
    expect(opsOf(res, '0001')).toEqual([{ op: 'add', path: '/spec/template/spec/network/nodeCIDR', value: '10.20.0.0/24' }]);
    expect(opsOf(res, '0002')).toEqual([
      { op: 'add', path: '/spec/template/spec/dataStoreName', value: 'etcd-gold' },
      { op: 'add', path: '/spec/template/spec/network/serviceAnnotations', value: { 'metallb.io/address-pool': 'tenants' } },
      { op: 'add', path: '/spec/template/spec/network/certSANs', value: ['198.18.0.1'] },
    ]);
    expect(opsOf(res, '0003')).toEqual([{ op: 'add', path: '/spec/template/spec/users/0/sshAuthorizedKeys', value: [KEY] }]);
    // md-0 runs v1.35.0: the 1.35 image, and the cluster-wide worker size.
    expect(opsOf(res, '0004')).toEqual([
      { op: 'add', path: '/spec/template/spec/image/containerDisk/image', value: IMG135 },
      { op: 'add', path: '/spec/template/spec/cpu', value: { cores: 4, sockets: 1, threads: 1 } },
      { op: 'add', path: '/spec/template/spec/memory', value: '8Gi' },
    ]);
    // md-gpu: its own size (override), the GPUs of the gpu class, and a DataVolume imported from the registry.
    expect(opsOf(res, '0006')).toEqual([
      { op: 'add', path: '/spec/template/spec/image/dataVolume/source', value: { registry: { url: `docker://${IMG135}` } } },
      { op: 'add', path: '/spec/template/spec/cpu', value: { cores: 16, sockets: 1, threads: 1 } },
      { op: 'add', path: '/spec/template/spec/memory', value: '64Gi' },
      {
        op: 'add',
        path: '/spec/template/spec/gpus',
        value: [
          { name: 'gpu0', deviceName: 'nvidia.com/GA102GL_A10' },
          { name: 'gpu1', deviceName: 'nvidia.com/GA102GL_A10' },
        ],
      },
    ]);
  });

  it('given the metal topology, should set pools, host selector and an oci:// image without the old checksum', () => {
    const res = generatePatches(metal, NO_RESERVED);
    expect(res.status).toBe('Success');
    expect(opsOf(res, '0001')).toEqual([{ op: 'add', path: '/spec/template/spec/hostPools', value: [{ namespace: 'pool-rack-a' }, { namespace: 'pool-rack-b' }] }]);
    expect(opsOf(res, '0002')).toEqual([{ op: 'add', path: '/spec/template/spec/network/serviceAddress', value: '192.0.2.40' }]);
    expect(opsOf(res, '0003')).toEqual([]);
    expect(opsOf(res, '0004')).toEqual([
      { op: 'add', path: '/spec/template/spec/image', value: { url: `oci://${IMG135}` } },
      {
        op: 'add',
        path: '/spec/template/spec/hostSelector',
        value: { matchLabels: { 'ironplane.dev/tier': 'gold' }, matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['zone-a', 'zone-b'] }] },
      },
    ]);
  });

  it('given any topology, should only touch spec.template.spec, the part CAPI keeps', () => {
    for (const req of [kvm, metal]) {
      for (const item of generatePatches(req, NO_RESERVED).items ?? []) {
        for (const op of JSON.parse(Buffer.from(item.patch, 'base64').toString('utf8')) as { path: string }[]) expect(op.path).toMatch(/^\/spec\/template\/spec(\/|$)/);
      }
    }
  });

  it('given the patched templates, should leave every one valid for its CRD', () => {
    const kamaji = kamajiValidators();
    const checked: string[] = [];
    for (const req of [kvm, metal]) {
      const patched = applyResponse(req, generatePatches(req, NO_RESERVED));
      for (const item of patched.items) {
        const problems = crdProblems(item.object, kamaji);
        if (problems === undefined) continue;
        expect(problems, `${item.object.kind} of ${item.holderReference.name}`).toEqual([]);
        checked.push(item.object.kind!);
      }
    }
    expect(checked).toEqual(expect.arrayContaining(['KvmClusterTemplate', 'KvmMachineTemplate', 'KairosConfigTemplate', 'MetalClusterTemplate', 'MetalMachineTemplate', 'KamajiControlPlaneTemplate']));
    // The check has teeth: a wrong value fails it. KamajiControlPlaneTemplate has no replicas (CAPI owns the control plane's).
    const bad = structuredClone(kvm.items[1]!.object);
    (bad.spec as { template: { spec: Record<string, unknown> } }).template.spec['replicas'] = 3;
    expect(crdProblems(bad, kamaji)).toEqual(["/spec/template/spec must NOT have additional properties 'replicas'"]);
    const badVm = structuredClone(kvm.items[3]!.object);
    (badVm.spec as { template: { spec: Record<string, unknown> } }).template.spec['memory'] = '8 GB';
    expect(crdProblems(badVm, kamaji)).toEqual(['/spec/template/spec/memory must match pattern "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$"']);
  });

  it('given a v1alpha2 template (Kamaji CP provider v0.20), should patch it like the pinned v1alpha1, validly', () => {
    const req = structuredClone(kvm);
    req.items[1]!.object.apiVersion = 'controlplane.cluster.x-k8s.io/v1alpha2';
    const res = generatePatches(req, NO_RESERVED);
    expect(opsOf(res, '0002')).toEqual(opsOf(generatePatches(kvm, NO_RESERVED), '0002'));
    const problems = crdProblems(applyResponse(req, res).items[1]!.object, kamajiValidators());
    // Checked when the v0.20 module is in the Go module cache.
    if (problems !== undefined) expect(problems).toEqual([]);
  });

  it('given templates already patched, should return no patches (idempotence)', () => {
    for (const req of [kvm, metal]) {
      const once = applyResponse(req, generatePatches(req, NO_RESERVED));
      const again: GeneratePatchesRequest = { ...req, items: req.items.map((item, i) => ({ ...item, object: once.items[i]!.object })) };
      expect(generatePatches(again, NO_RESERVED).items).toEqual([]);
    }
  });

  it('given the same request twice, should return the same bytes', () => {
    expect(JSON.stringify(generatePatches(kvm, NO_RESERVED))).toBe(JSON.stringify(generatePatches(structuredClone(kvm), NO_RESERVED)));
  });

  it('given a template of a kind it does not know, should leave it alone', () => {
    const req = structuredClone(kvm);
    req.items[0]!.object = { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2', kind: 'DockerClusterTemplate', spec: { template: { spec: {} } } };
    const res = generatePatches(req, NO_RESERVED);
    expect(res.status).toBe('Success');
    expect(res.items!.map((i) => i.uid.slice(-4))).toEqual(['0002', '0003', '0004', '0005', '0006']);
  });

  it('given a request without variables, should patch from the defaults and the settings', () => {
    const req: GeneratePatchesRequest = {
      ...structuredClone(kvm),
      settings: { kairosImages: IMG135 },
      variables: kvm.variables!.filter((v) => v.name === 'builtin'),
      items: structuredClone(kvm.items).map((i) => ({ ...i, variables: (i.variables ?? []).filter((v) => v.name === 'builtin') })),
    };
    const res = generatePatches(req, NO_RESERVED);
    expect(res.status).toBe('Success');
    expect(opsOf(res, '0001')).toEqual([{ op: 'add', path: '/spec/template/spec/network/nodeCIDR', value: '10.10.0.0/24' }]);
    expect(opsOf(res, '0004')).toEqual([{ op: 'add', path: '/spec/template/spec/image/containerDisk/image', value: IMG135 }]);
  });
});

/** The kvm fixture with one variable set to `value`. */
const withVar = (name: string, value: unknown, req = fixture<GeneratePatchesRequest>('generatepatches-kvm')): GeneratePatchesRequest => ({
  ...structuredClone(req),
  variables: [...req.variables!.filter((v) => v.name !== name), { name, value }],
});
/** The message of a response that must be a Failure with no patches. */
const message = (res: GeneratePatchesResponse) => {
  expect(res.status).toBe('Failure');
  expect(res.items).toBeUndefined();
  return res.message;
};

describe('GeneratePatches failures', () => {
  const kvm = fixture<GeneratePatchesRequest>('generatepatches-kvm');

  it('given a bad variable value, should fail with the exact message', () => {
    expect(message(generatePatches(withVar('network', { nodeCIDR: '10.20.0.1/24' }), NO_RESERVED))).toBe('variable network.nodeCIDR: "10.20.0.1/24" has host bits set: use 10.20.0.0/24');
  });

  it('given a bad per-MachineDeployment override, should say which template it came from', () => {
    const req = structuredClone(kvm);
    for (const i of req.items.filter((i) => i.uid.endsWith('0006'))) i.variables![0] = { name: 'workers', value: { cpu: 1024 } };
    expect(message(generatePatches(req, NO_RESERVED))).toBe('KvmMachineTemplate ironplane-kvm-v1-gpu of MachineDeployment prod-md-gpu-q9wzt: variable workers.cpu: must be an integer from 1 to 512, got 1024');
  });

  it('given no image for a MachineDeployment’s version, should name the versions on offer', () => {
    const req = withVar('kairosImages', ['quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.34.2']);
    expect(message(generatePatches(req, NO_RESERVED))).toBe(
      'KvmMachineTemplate ironplane-kvm-v1-general of MachineDeployment prod-md-0-5fz8x: no Kairos image supports Kubernetes v1.35.0: the images carry v1.34.2; add one tagged k8sv1.35.<patch ≤ 0>; ' +
        'KvmMachineTemplate ironplane-kvm-v1-gpu of MachineDeployment prod-md-gpu-q9wzt: no Kairos image supports Kubernetes v1.35.0: the images carry v1.34.2; add one tagged k8sv1.35.<patch ≤ 0>',
    );
  });

  it('given no image at all, should say where to set one', () => {
    const req: GeneratePatchesRequest = { ...structuredClone(kvm), variables: kvm.variables!.filter((v) => v.name !== 'kairosImages') };
    expect(message(generatePatches(req, NO_RESERVED))).toContain(
      'KvmMachineTemplate ironplane-kvm-v1-general of MachineDeployment prod-md-0-5fz8x: no Kairos image: set the kairosImages variable, or the kairosImages setting of the ClusterClass patch or ExtensionConfig',
    );
  });

  it('given a version of one of our kinds it does not know, should refuse it', () => {
    const req = structuredClone(kvm);
    req.items[0]!.object.apiVersion = 'infrastructure.ironplane.dev/v1alpha2';
    expect(message(generatePatches(req, NO_RESERVED))).toBe(
      'KvmClusterTemplate ironplane-kvm-v1 of Cluster prod: KvmClusterTemplate infrastructure.ironplane.dev/v1alpha2 is not supported (supported: infrastructure.ironplane.dev/v1alpha1)',
    );
  });

  it('given a class-wide gateway outside the tenant’s node range, should refuse to patch', () => {
    const req = structuredClone(kvm);
    (req.items[0]!.object.spec as { template: { spec: { network: Record<string, unknown> } } }).template.spec.network['gateway'] = '10.0.0.1';
    expect(message(generatePatches(req, NO_RESERVED))).toBe(
      'KvmClusterTemplate ironplane-kvm-v1 of Cluster prod: its network.gateway 10.0.0.1 is outside network.nodeCIDR 10.20.0.0/24: remove the gateway from the template (kube-OVN then uses the first address)',
    );
  });

  it('given bad settings, should fail naming the setting', () => {
    expect(message(generatePatches({ ...structuredClone(kvm), settings: { upgradeConcurrency: 'many' } }, NO_RESERVED))).toBe('setting upgradeConcurrency: must be a whole number (0 for no limit), got "many"');
  });

  it('given several problems in any order, should list them sorted, once each', () => {
    const req = withVar('workers', { cpu: 0, memory: '1Mi' });
    const reversed: GeneratePatchesRequest = { ...req, items: [...req.items].reverse(), variables: [...req.variables!].reverse() };
    const m = message(generatePatches(req, NO_RESERVED));
    expect(m).toBe('variable workers.cpu: must be an integer from 1 to 512, got 0; variable workers.memory: 1Mi is less than 1Gi, too little for a Kairos node');
    expect(message(generatePatches(reversed, NO_RESERVED))).toBe(m);
  });
});

describe('GeneratePatches and the platform’s allowlists', () => {
  // The fixture's settings are the shipped ClusterClass's allowlists plus a second GPU model.
  const kvm = fixture<GeneratePatchesRequest>('generatepatches-kvm');

  it('given values inside every allowlist, should patch them', () => {
    const res = generatePatches(withVar('gpu', { count: 1, model: 'nvidia.com/AD102GL_L40S' }), NO_RESERVED);
    expect(res.status).toBe('Success');
    expect(opsOf(res, '0006')).toContainEqual({ op: 'add', path: '/spec/template/spec/gpus', value: [{ name: 'gpu0', deviceName: 'nvidia.com/AD102GL_L40S' }] });
  });

  it('given a value outside an allowlist, should patch nothing and name the field and the allowed values', () => {
    expect(message(generatePatches(withVar('gpu', { count: 1, model: 'amd.com/MI300X' }), NO_RESERVED))).toBe(
      'variable gpu.model: must be a GPU model the platform allows (nvidia.com/AD102GL_L40S, nvidia.com/GA102GL_A10), got "amd.com/MI300X"',
    );
    expect(message(generatePatches(withVar('kairosImages', ['quay.io/kairos-evil/ubuntu:v1-k8sv1.35.0']), NO_RESERVED))).toBe(
      'variable kairosImages[0]: must be an image of a repository the platform allows (quay.io/kairos), got "quay.io/kairos-evil/ubuntu:v1-k8sv1.35.0"',
    );
    expect(message(generatePatches(withVar('controlPlane', { dataStore: 'tenant-b' }), NO_RESERVED))).toBe('variable controlPlane.dataStore: must be a DataStore the platform allows (default, etcd-gold), got "tenant-b"');
    expect(message(generatePatches(withVar('loadBalancer', { pool: 'infra', address: '10.1.2.3' }), NO_RESERVED))).toBe(
      "variable loadBalancer.address: must be an address in a range the platform allows (none: the platform's loadBalancerAddressRanges setting allows none), got \"10.1.2.3\"; " +
        'variable loadBalancer.pool: must be an address pool the platform allows (tenants), got "infra"',
    );
  });

  it('given a per-MachineDeployment override outside an allowlist, should name the template it came from', () => {
    const req = structuredClone(kvm);
    for (const i of req.items.filter((i) => i.uid.endsWith('0006'))) i.variables!.push({ name: 'gpu', value: { model: 'amd.com/MI300X' } });
    expect(message(generatePatches(req, NO_RESERVED))).toBe(
      'KvmMachineTemplate ironplane-kvm-v1-gpu of MachineDeployment prod-md-gpu-q9wzt: variable gpu.model: must be a GPU model the platform allows (nvidia.com/AD102GL_L40S, nvidia.com/GA102GL_A10), got "amd.com/MI300X"',
    );
  });

  it('given a forged request without the class’s settings, should allow nothing of the tenant’s choosing', () => {
    const forged: GeneratePatchesRequest = { ...structuredClone(kvm), settings: {} };
    expect(message(generatePatches(forged, NO_RESERVED))).toBe(
      [
        "variable controlPlane.dataStore: must be a DataStore the platform allows (none: the platform's allowedDataStores setting allows none), got \"etcd-gold\"",
        "variable gpu.model: must be a GPU model the platform allows (none: the platform's allowedGPUModels setting allows none), got \"nvidia.com/GA102GL_A10\"",
        'variable kairosImages[0]: must be an image of a repository the platform allows (none: the platform sets neither allowedImageRegistries nor a kairosImages setting whose repositories would be allowed), got "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.34.2"',
        'variable kairosImages[1]: must be an image of a repository the platform allows (none: the platform sets neither allowedImageRegistries nor a kairosImages setting whose repositories would be allowed), got "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0"',
        "variable loadBalancer.pool: must be an address pool the platform allows (none: the platform's allowedLoadBalancerPools setting allows none), got \"tenants\"",
      ].join('; '),
    );
  });

  it('given bad allowlist settings, should fail naming only the settings', () => {
    expect(message(generatePatches({ ...structuredClone(kvm), settings: { ...kvm.settings, allowedImageRegistries: 'docker://quay.io' } }, NO_RESERVED))).toBe(
      'setting allowedImageRegistries: "docker://quay.io" is not a registry or repository prefix: write host[:port][/path] in lowercase, without a scheme, e.g. quay.io/kairos',
    );
  });
});

describe('GeneratePatches and the private endpoint VIP', () => {
  const kvm = fixture<GeneratePatchesRequest>('generatepatches-kvm');
  const metal = fixture<GeneratePatchesRequest>('generatepatches-metal');
  const CERT_SANS = '/spec/template/spec/network/certSANs';
  const withSettings = (req: GeneratePatchesRequest, settings: Record<string, string>): GeneratePatchesRequest => ({ ...structuredClone(req), settings: { ...req.settings, ...settings } });
  /** The request with the class's KamajiControlPlaneTemplate (item 0002 of both fixtures) carrying these SANs. */
  const withSans = (req: GeneratePatchesRequest, sans: string[]): GeneratePatchesRequest => {
    const r = structuredClone(req);
    (r.items[1]!.object.spec as { template: { spec: { network: Record<string, unknown> } } }).template.spec.network['certSANs'] = sans;
    return r;
  };
  const sansOps = (res: GeneratePatchesResponse) => {
    expect(res.status).toBe('Success');
    return (opsOf(res, '0002') as { path: string }[]).filter((op) => op.path === CERT_SANS);
  };

  it('given a KubeVirt class and no setting, should add the kubevirt manager’s default VIP to the control plane’s certSANs', () => {
    expect(DEFAULT_PRIVATE_ENDPOINT_VIP).toBe('198.18.0.1');
    expect(sansOps(generatePatches(kvm, NO_RESERVED))).toEqual([{ op: 'add', path: CERT_SANS, value: ['198.18.0.1'] }]);
  });

  it('given the privateEndpointVIP setting, should add that address', () => {
    expect(sansOps(generatePatches(withSettings(kvm, { privateEndpointVIP: '100.127.255.1' }), NO_RESERVED))).toEqual([{ op: 'add', path: CERT_SANS, value: ['100.127.255.1'] }]);
  });

  it('given SANs in the class’s template, should keep them and append the VIP', () => {
    const req = withSans(kvm, ['cp.example.com', '203.0.113.10']);
    const res = generatePatches(req, NO_RESERVED);
    expect(sansOps(res)).toEqual([{ op: 'add', path: CERT_SANS, value: ['cp.example.com', '203.0.113.10', '198.18.0.1'] }]);
    const patched = applyResponse(req, res).items[1]!.object.spec as { template: { spec: { network: { certSANs: string[] } } } };
    expect(patched.template.spec.network.certSANs).toEqual(['cp.example.com', '203.0.113.10', '198.18.0.1']);
  });

  it('given the VIP among the template’s SANs already, should not add it twice', () => {
    expect(sansOps(generatePatches(withSans(kvm, ['198.18.0.1', 'cp.example.com']), NO_RESERVED))).toEqual([]);
  });

  it('given privateEndpointVIP none, should leave the SANs as the class has them', () => {
    expect(sansOps(generatePatches(withSettings(kvm, { privateEndpointVIP: 'none' }), NO_RESERVED))).toEqual([]);
    expect(sansOps(generatePatches(withSettings(withSans(kvm, ['cp.example.com']), { privateEndpointVIP: 'none' }), NO_RESERVED))).toEqual([]);
  });

  it('given a metal class, should add no SAN, whatever the setting', () => {
    for (const req of [metal, withSettings(metal, { privateEndpointVIP: '198.18.0.1' }), withSans(metal, ['cp.example.com'])]) {
      expect(sansOps(generatePatches(req, NO_RESERVED))).toEqual([]);
    }
  });

  it.each(['fd00::1', '198.18.0', '198.18.0.1/32', 'vip.example.com', ''])('given privateEndpointVIP %j, should patch nothing and name the setting', (vip) => {
    for (const req of [kvm, metal]) {
      expect(message(generatePatches(withSettings(req, { privateEndpointVIP: vip }), NO_RESERVED))).toBe(
        `setting privateEndpointVIP: must be an IPv4 address (the kubevirt manager's IRONPLANE_CP_VIP) or none, got ${JSON.stringify(vip)}`,
      );
    }
  });
});
