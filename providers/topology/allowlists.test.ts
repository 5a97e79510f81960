import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { addressRule, allowlistProblems, imagePattern, imageRule, repositoryOf, resolveAllowlists, type Allowlists, type Schema } from './allowlists.js';
import { parseKairosImage, type KairosImage } from './image.js';
import { variableMap, variablesFor } from './variables.js';

const IMG = 'quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.5.0-k8sv1.35.0';
const image = (ref: string) => parseKairosImage(ref) as KairosImage;

/** The allowlists of the shipped ClusterClasses (clusterclasses/*.yaml), plus an address range. */
const SHIPPED = {
  allowedImageRegistries: 'quay.io/kairos',
  allowedGPUModels: 'nvidia.com/GA102GL_A10',
  allowedDataStores: 'default,etcd-gold',
  allowedLoadBalancerPools: 'tenants',
  loadBalancerAddressRanges: '192.0.2.0/24,2001:db8::/64',
};

const allowOf = (settings: Record<string, string>, images: KairosImage[] = []): Allowlists => {
  const { allow, problems } = resolveAllowlists(settings, images);
  expect(problems).toEqual([]);
  return allow;
};
const problemsOf = (settings: Record<string, string>, name: string, value: unknown) => allowlistProblems(variableMap([{ name, value }]), allowOf(settings));

const ALLOWED_IMAGES = '(quay.io/kairos)';
const imageRefused = (i: number, ref: string) => `variable kairosImages[${i}]: must be an image of a repository the platform allows ${ALLOWED_IMAGES}, got ${JSON.stringify(ref)}`;

describe('image repository prefixes', () => {
  const re = new RegExp(imagePattern(['quay.io/kairos'])!);

  it('given an image under the prefix, should admit it, with a digest too', () => {
    for (const ref of [IMG, 'quay.io/kairos:v3-k8sv1.35.0', 'quay.io/kairos/x/y:k8sv1.35.0', `${IMG}@sha256:${'a'.repeat(64)}`]) expect(re.test(ref), ref).toBe(true);
  });

  // Each a way to look like the prefix without being under it.
  const TRICKS = [
    'quay.io/kairos-evil/x:k8sv1.35.0', // same characters, another repository
    'quay.io/kairosx:k8sv1.35.0',
    'quay.io/kairos/../x:k8sv1.35.0', // a path that climbs out
    'quay.io/kairos/./x:k8sv1.35.0',
    'quay.io/kairos//x:k8sv1.35.0',
    'docker://quay.io/kairos/x:k8sv1.35.0', // a scheme
    'oci://quay.io/kairos/x:k8sv1.35.0',
    'https://quay.io/kairos/x:k8sv1.35.0',
    'quay.io.evil.com/kairos/x:k8sv1.35.0', // another host that starts the same
    'quay.io:443/kairos/x:k8sv1.35.0', // the same host by another port
    'evil.io/quay.io/kairos/x:k8sv1.35.0', // the prefix further in
    'QUAY.IO/kairos/x:k8sv1.35.0', // uppercase
    'quay.io/Kairos/x:k8sv1.35.0',
    ' quay.io/kairos/x:k8sv1.35.0', // whitespace
    'quay.io/kairos/x:k8sv1.35.0 ',
    'quay.io/kairos/x:k8sv1.35.0\n',
    'quay.io/kairos /x:k8sv1.35.0',
    'quay.io/kairos/x', // no tag
    'quay.io/kairos/x@sha256:' + 'a'.repeat(64),
    'quay.io/kairos/x:k8sv1.35.0@sha256:short',
    'kairos/x:k8sv1.35.0', // Docker Hub, implicitly
  ];

  it.each(TRICKS)('given %j, should refuse it', (ref) => {
    expect(re.test(ref)).toBe(false);
    expect(problemsOf(SHIPPED, 'kairosImages', [IMG, ref])).toEqual([imageRefused(1, ref)]);
  });

  it('given a registry-only prefix, should admit its repositories but not the bare host or a Docker Hub path of that name', () => {
    const host = new RegExp(imagePattern(['registry.example.com:5000'])!);
    expect(host.test('registry.example.com:5000/kairos/u:k8sv1.35.0')).toBe(true);
    expect(host.test('registry.example.com:5000:k8sv1.35.0')).toBe(false);
    expect(host.test('registry.example.com:50001/kairos/u:k8sv1.35.0')).toBe(false);
    expect(host.test('registry.example.com/kairos/u:k8sv1.35.0')).toBe(false);
  });

  it('given several prefixes, should escape each (a dot matches only a dot)', () => {
    const pattern = imagePattern(['quay.io/kairos', 'ghcr.io'])!;
    expect(pattern).toBe('^(?:(?:ghcr\\.io)(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+|(?:quay\\.io/kairos)(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*):[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(?:@sha256:[a-f0-9]{64})?$');
    expect(new RegExp(pattern).test('ghcrxio/kairos/u:k8sv1.35.0')).toBe(false);
    expect(new RegExp(pattern).test('ghcr.io/kairos/u:k8sv1.35.0')).toBe(true);
  });

  it('should say which repository an image comes from, only when it names its registry', () => {
    expect(repositoryOf(IMG)).toBe('quay.io/kairos/ubuntu');
    expect(repositoryOf('localhost:5000/k/u:v1@sha256:' + 'b'.repeat(64))).toBe('localhost:5000/k/u');
    expect(repositoryOf('kairos/ubuntu:v1')).toBeUndefined();
  });
});

describe('allowlist settings', () => {
  it('given every setting, should read them sorted and deduplicated', () => {
    const { allow, problems } = resolveAllowlists({ ...SHIPPED, allowedImageRegistries: ' quay.io/kairos/ , ghcr.io/acme,quay.io/kairos', allowedDataStores: 'etcd-gold,default,default' }, []);
    expect(problems).toEqual([]);
    expect(allow).toMatchObject({ imageRepositories: ['ghcr.io/acme', 'quay.io/kairos'], imageRepositoriesFrom: 'allowedImageRegistries', gpuModels: ['nvidia.com/GA102GL_A10'], dataStores: ['default', 'etcd-gold'], loadBalancerPools: ['tenants'] });
    expect(allow.loadBalancerAddressRanges.map((c) => c.text)).toEqual(['192.0.2.0/24', '2001:db8::/64']);
  });

  it('given no image setting, should allow only the repositories of the kairosImages setting; given neither, nothing', () => {
    expect(resolveAllowlists({}, [image(IMG), image('quay.io/kairos/ubuntu:v3.5.1-k8sv1.35.1'), image('kairos/hub:v1-k8sv1.35.0')]).allow).toMatchObject({ imageRepositories: ['quay.io/kairos/ubuntu'], imageRepositoriesFrom: 'kairosImages' });
    expect(resolveAllowlists({}, []).allow).toEqual({ imageRepositories: [], imageRepositoriesFrom: 'kairosImages', gpuModels: [], dataStores: [], loadBalancerPools: [], loadBalancerAddressRanges: [] });
    // Set but empty: nothing, whatever the kairosImages setting holds.
    expect(resolveAllowlists({ allowedImageRegistries: '' }, [image(IMG)]).allow.imageRepositories).toEqual([]);
  });

  it('given bad entries, should name the setting and the entry', () => {
    const { problems } = resolveAllowlists(
      {
        allowedImageRegistries: 'docker://quay.io/kairos,Quay.io/kairos,kairos,quay.io/kairos/../x,quay.io/kairos x',
        allowedGPUModels: 'A10',
        allowedDataStores: 'Etcd_Gold',
        allowedLoadBalancerPools: 'a.b',
        loadBalancerAddressRanges: '192.0.2.1/24,nope',
      },
      [],
    );
    expect(problems).toEqual([
      'setting allowedImageRegistries: "docker://quay.io/kairos" is not a registry or repository prefix: write host[:port][/path] in lowercase, without a scheme, e.g. quay.io/kairos',
      'setting allowedImageRegistries: "Quay.io/kairos" is not a registry or repository prefix: write host[:port][/path] in lowercase, without a scheme, e.g. quay.io/kairos',
      'setting allowedImageRegistries: "kairos" does not start with a registry host (one with a dot or a port, or localhost): write the registry, e.g. docker.io/kairos',
      'setting allowedImageRegistries: "quay.io/kairos/../x" is not a registry or repository prefix: write host[:port][/path] in lowercase, without a scheme, e.g. quay.io/kairos',
      'setting allowedImageRegistries: "quay.io/kairos x" is not a registry or repository prefix: write host[:port][/path] in lowercase, without a scheme, e.g. quay.io/kairos',
      'setting allowedGPUModels: "A10" is not a device resource name such as nvidia.com/GA102GL_A10',
      'setting allowedDataStores: "Etcd_Gold" is not a DataStore name (a DNS subdomain)',
      'setting allowedLoadBalancerPools: "a.b" is not a pool name (a DNS label)',
      'setting loadBalancerAddressRanges: "192.0.2.1/24" has host bits set: use 192.0.2.0/24',
      'setting loadBalancerAddressRanges: "nope" is not a CIDR (address/prefix, e.g. 10.0.0.0/24)',
    ]);
  });

  it('given more names than a schema holds, or prefixes too long for a rule, should say so', () => {
    const many = Array.from({ length: 101 }, (_, i) => `pool-${i}`).join(',');
    expect(resolveAllowlists({ allowedLoadBalancerPools: many }, []).problems).toEqual(["setting allowedLoadBalancerPools: lists 101 entries, at most 100 fit a variable's schema"]);
    const long = Array.from({ length: 40 }, (_, i) => `registry-${i}.example.com/${'a'.repeat(80)}`).join(',');
    expect(resolveAllowlists({ allowedImageRegistries: long }, []).problems).toEqual([expect.stringMatching(/^setting allowedImageRegistries: the schema rule it makes is \d+ characters long, CAPI allows 4096: list fewer, shorter prefixes$/)]);
  });
});

describe('values against the allowlists', () => {
  it('given values inside every allowlist, should find nothing', () => {
    const map = variableMap([
      { name: 'kairosImages', value: [IMG] },
      { name: 'gpu', value: { model: 'nvidia.com/GA102GL_A10' } },
      { name: 'controlPlane', value: { dataStore: 'etcd-gold' } },
      { name: 'loadBalancer', value: { pool: 'tenants', address: '192.0.2.40' } },
    ]);
    expect(allowlistProblems(map, allowOf(SHIPPED))).toEqual([]);
    expect(problemsOf(SHIPPED, 'loadBalancer', { address: '2001:db8::40' })).toEqual([]);
  });

  // Each row: a variable, a value outside the allowlist, the exact message.
  const OUTSIDE: [string, unknown, string][] = [
    ['gpu', { model: 'amd.com/MI300X' }, 'variable gpu.model: must be a GPU model the platform allows (nvidia.com/GA102GL_A10), got "amd.com/MI300X"'],
    ['gpu', { model: 'nvidia.com/ga102gl_a10' }, 'variable gpu.model: must be a GPU model the platform allows (nvidia.com/GA102GL_A10), got "nvidia.com/ga102gl_a10"'],
    ['gpu', { model: 'nvidia.com/GA102GL_A10 ' }, 'variable gpu.model: must be a GPU model the platform allows (nvidia.com/GA102GL_A10), got "nvidia.com/GA102GL_A10 "'],
    ['controlPlane', { dataStore: 'tenant-b-etcd' }, 'variable controlPlane.dataStore: must be a DataStore the platform allows (default, etcd-gold), got "tenant-b-etcd"'],
    ['loadBalancer', { pool: 'infra' }, 'variable loadBalancer.pool: must be an address pool the platform allows (tenants), got "infra"'],
    ['loadBalancer', { address: '10.0.0.1' }, 'variable loadBalancer.address: must be an address in a range the platform allows (192.0.2.0/24, 2001:db8::/64), got "10.0.0.1"'],
    ['loadBalancer', { address: '192.0.3.1' }, 'variable loadBalancer.address: must be an address in a range the platform allows (192.0.2.0/24, 2001:db8::/64), got "192.0.3.1"'],
    ['loadBalancer', { address: '2001:db8:0:1::1' }, 'variable loadBalancer.address: must be an address in a range the platform allows (192.0.2.0/24, 2001:db8::/64), got "2001:db8:0:1::1"'],
    ['kairosImages', ['ghcr.io/evil/kairos:v1-k8sv1.35.0', IMG], imageRefused(0, 'ghcr.io/evil/kairos:v1-k8sv1.35.0')],
  ];

  it.each(OUTSIDE)('given %s = %j, should refuse it naming the field and the allowed values', (name, value, message) => {
    expect(problemsOf(SHIPPED, name, value)).toEqual([message]);
  });

  it('given no allowlist settings, should refuse every tenant choice and say that none is allowed', () => {
    const none = allowOf({});
    const map = variableMap([
      { name: 'kairosImages', value: [IMG] },
      { name: 'gpu', value: { model: 'nvidia.com/GA102GL_A10' } },
      { name: 'controlPlane', value: { dataStore: 'default' } },
      { name: 'loadBalancer', value: { pool: 'tenants', address: '192.0.2.40' } },
    ]);
    expect(allowlistProblems(map, none)).toEqual([
      `variable kairosImages[0]: must be an image of a repository the platform allows (none: the platform sets neither allowedImageRegistries nor a kairosImages setting whose repositories would be allowed), got "${IMG}"`,
      'variable gpu.model: must be a GPU model the platform allows (none: the platform\'s allowedGPUModels setting allows none), got "nvidia.com/GA102GL_A10"',
      'variable controlPlane.dataStore: must be a DataStore the platform allows (none: the platform\'s allowedDataStores setting allows none), got "default"',
      'variable loadBalancer.pool: must be an address pool the platform allows (none: the platform\'s allowedLoadBalancerPools setting allows none), got "tenants"',
      'variable loadBalancer.address: must be an address in a range the platform allows (none: the platform\'s loadBalancerAddressRanges setting allows none), got "192.0.2.40"',
    ]);
    // The kairosImages setting's own repositories are allowed by default.
    expect(allowlistProblems(variableMap([{ name: 'kairosImages', value: [IMG, 'quay.io/kairos/other:v1-k8sv1.35.0'] }]), allowOf({}, [image(IMG)]))).toEqual([
      'variable kairosImages[1]: must be an image of a repository the platform allows (quay.io/kairos/ubuntu), got "quay.io/kairos/other:v1-k8sv1.35.0"',
    ]);
  });

  it('given values of the wrong type, should leave them to the variable parser', () => {
    expect(allowlistProblems(variableMap([{ name: 'gpu', value: { model: 7 } }, { name: 'kairosImages', value: 'x' }, { name: 'loadBalancer', value: { address: 'nope' } }]), allowOf(SHIPPED))).toEqual([]);
  });
});

describe('DiscoverVariables schemas', () => {
  const schemaOf = (settings: Record<string, string>, name: string): Schema => {
    const { variables, problems } = variablesFor(settings);
    expect(problems).toEqual([]);
    return variables.find((v) => v.name === name)!.schema.openAPIV3Schema as Schema;
  };
  const ajv = new Ajv({ strict: false, allErrors: true });

  it('given name allowlists, should publish them as enums CAPI checks', () => {
    expect(schemaOf(SHIPPED, 'gpu').properties!['model']!.enum).toEqual(['nvidia.com/GA102GL_A10']);
    expect(schemaOf(SHIPPED, 'controlPlane').properties!['dataStore']!.enum).toEqual(['default', 'etcd-gold']);
    expect(schemaOf(SHIPPED, 'loadBalancer').properties!['pool']!.enum).toEqual(['tenants']);
    const gpu = ajv.compile(schemaOf(SHIPPED, 'gpu'));
    expect(gpu({ model: 'nvidia.com/GA102GL_A10' })).toBe(true);
    expect(gpu({ model: 'amd.com/MI300X' })).toBe(false);
    expect(schemaOf(SHIPPED, 'gpu').properties!['model']!.description).toBe('The resource name the device plugin advertises, e.g. nvidia.com/GA102GL_A10. Allowed here (setting allowedGPUModels): nvidia.com/GA102GL_A10.');
  });

  it('given image prefixes, should publish a rule matching the escaped prefixes, with a message naming them', () => {
    const items = schemaOf(SHIPPED, 'kairosImages').items!;
    expect(items['x-kubernetes-validations']).toEqual([{ rule: imageRule(['quay.io/kairos']), message: 'must be an image of a repository the platform allows (quay.io/kairos)' }]);
    expect(imageRule(['quay.io/kairos'])).toBe(`self.matches(r'${imagePattern(['quay.io/kairos'])}')`);
    // The OCI shape stays a pattern of its own.
    expect(items.pattern).toBeDefined();
  });

  it('given address ranges, should publish a rule of Kubernetes’ CEL IP library', () => {
    const address = schemaOf(SHIPPED, 'loadBalancer').properties!['address']!;
    expect(address['x-kubernetes-validations']).toEqual([
      { rule: "isIP(self) && (cidr('192.0.2.0/24').containsIP(self) || cidr('2001:db8::/64').containsIP(self))", message: 'must be an address in a range the platform allows (192.0.2.0/24, 2001:db8::/64)' },
    ]);
    expect(addressRule([])).toBe('false');
  });

  it('given no allowlists, should publish rules no value passes, with a message saying none is allowed', () => {
    expect(schemaOf({}, 'gpu').properties!['model']).toMatchObject({ 'x-kubernetes-validations': [{ rule: 'false', message: "must be a GPU model the platform allows (none: the platform's allowedGPUModels setting allows none)" }] });
    expect(schemaOf({}, 'gpu').properties!['model']!.enum).toBeUndefined();
    expect(schemaOf({}, 'kairosImages').items!['x-kubernetes-validations']).toEqual([
      { rule: 'false', message: 'must be an image of a repository the platform allows (none: the platform sets neither allowedImageRegistries nor a kairosImages setting whose repositories would be allowed)' },
    ]);
    expect(schemaOf({ kairosImages: IMG }, 'kairosImages').items!['x-kubernetes-validations']![0]!.message).toBe('must be an image of a repository the platform allows (quay.io/kairos/ubuntu)');
  });

  it('given the mandatory add-ons, should name them in the addons variable', () => {
    expect(schemaOf({}, 'addons').description).toMatch(/Mandatory here: policies\.$/);
    expect(schemaOf({ mandatoryAddons: 'policies,monitoring' }, 'addons').description).toMatch(/Mandatory here: monitoring, policies\.$/);
    expect(schemaOf({ mandatoryAddons: '' }, 'addons').description).toMatch(/Mandatory here: none \(the mandatoryAddons setting is empty\)\.$/);
  });

  it('given bad settings, should report them instead of publishing schemas', () => {
    expect(variablesFor({ allowedGPUModels: 'A10', mandatoryAddons: 'firewall' }).problems).toEqual([
      'setting allowedGPUModels: "A10" is not a device resource name such as nvidia.com/GA102GL_A10',
      'setting mandatoryAddons: "firewall" is not an add-on component (cni, csi, monitoring, policies)',
    ]);
  });
});
