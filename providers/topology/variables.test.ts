import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parseCidr } from './cidr.js';
import { parseValues, resolveConfig, VARIABLES, variableMap } from './variables.js';

// The schemas as CAPI checks values against them (structural OpenAPI, the
// "cidr" format of Kubernetes); ajv stands in for CAPI's webhook here.
const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true });
// Kubernetes' "cidr" format is Go's net.ParseCIDR, which accepts host bits.
ajv.addFormat('cidr', (s: string) => {
  const c = parseCidr(s);
  return typeof c !== 'string' || c.includes('has host bits set');
});
const schemaOf = (name: string) => VARIABLES.find((v) => v.name === name)!.schema.openAPIV3Schema;
const validatorOf = (name: string) => ajv.compile(schemaOf(name));

const problemsFor = (name: string, value: unknown) => parseValues(variableMap([{ name, value }])).problems;

describe('variable definitions', () => {
  it('should define each variable once, with a schema, a description and required set', () => {
    const names = VARIABLES.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(['kairosImages', 'network', 'controlPlane', 'workers', 'gpu', 'metal', 'addons', 'loadBalancer', 'ssh']);
    for (const v of VARIABLES) {
      expect(v.required).toBe(false);
      expect(v.schema.openAPIV3Schema.description, v.name).toBeTruthy();
      expect(v.name).not.toContain('.');
    }
  });

  it('given the schema defaults, should parse them to the handlers’ own defaults', () => {
    for (const name of ['network', 'workers', 'addons']) {
      const value: Record<string, unknown> = { v: structuredClone(schemaOf(name).default) };
      expect(ajv.compile({ type: 'object', properties: { v: schemaOf(name) } })(value), name).toBe(true);
      const fromSchema = parseValues(variableMap([{ name, value: value['v'] }]));
      const fromNothing = parseValues(variableMap([]));
      expect(fromSchema.problems).toEqual([]);
      expect(fromSchema.values).toEqual({ ...fromNothing.values, ...(name === 'network' ? { networkSet: { podCIDR: true, serviceCIDR: true } } : {}) });
    }
  });

  it('given every example and default, should pass its own schema', () => {
    expect(validatorOf('kairosImages')(schemaOf('kairosImages').example)).toBe(true);
    expect(validatorOf('gpu')({ model: 'nvidia.com/GA102GL_A10' })).toBe(true);
    expect(validatorOf('ssh')({ authorizedKeys: ['ssh-ed25519 AAAA a@b'] })).toBe(true);
    expect(validatorOf('metal')({ hostPools: ['pool-a'], hostSelector: { matchLabels: { tier: 'gold' }, matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['a'] }] } })).toBe(true);
  });
});

// Each row: a bad value, what CAPI's schema check says (true: it rejects the
// value too), and the exact message of the extension.
const BAD: [string, unknown, boolean, string][] = [
  ['kairosImages', 'quay.io/kairos/ubuntu:k8sv1.35.0', true, 'variable kairosImages: must be a non-empty list of image references, got "quay.io/kairos/ubuntu:k8sv1.35.0"'],
  ['kairosImages', ['quay.io/kairos/ubuntu:24.04-standard'], false, 'variable kairosImages[0]: "quay.io/kairos/ubuntu:24.04-standard" has no Kubernetes version in its tag: the tag must end with k8sv<major>.<minor>.<patch>, e.g. ...-k8sv1.35.0'],
  ['network', { nodeCIDR: '10.20.0.5/24' }, false, 'variable network.nodeCIDR: "10.20.0.5/24" has host bits set: use 10.20.0.0/24'],
  ['network', { podCIDR: '10.244.0.0' }, true, 'variable network.podCIDR: "10.244.0.0" is not a CIDR (address/prefix, e.g. 10.0.0.0/24)'],
  ['network', { serviceCIDR: 10 }, true, 'variable network.serviceCIDR: must be a CIDR string, got 10'],
  ['network', 'default', true, 'variable network: must be an object, got "default"'],
  ['controlPlane', { dataStore: 'Etcd_Gold' }, true, 'variable controlPlane.dataStore: must be a DataStore name (a DNS subdomain), got "Etcd_Gold"'],
  ['workers', { cpu: 0 }, true, 'variable workers.cpu: must be an integer from 1 to 512, got 0'],
  ['workers', { cpu: '4' }, true, 'variable workers.cpu: must be an integer from 1 to 512, got "4"'],
  ['workers', { memory: '512Mi' }, false, 'variable workers.memory: 512Mi is less than 1Gi, too little for a Kairos node'],
  ['workers', { memory: '8 GB' }, true, 'variable workers.memory: must be a quantity such as 8Gi, got "8 GB"'],
  ['gpu', { count: 2 }, true, 'variable gpu.model: must be a device resource name such as nvidia.com/GA102GL_A10, got undefined'],
  ['gpu', { count: 17, model: 'nvidia.com/gpu' }, true, 'variable gpu.count: must be an integer from 1 to 16, got 17'],
  ['gpu', { model: 'A10' }, true, 'variable gpu.model: must be a device resource name such as nvidia.com/GA102GL_A10, got "A10"'],
  ['metal', { hostPools: ['Pool_A'] }, true, 'variable metal.hostPools: must be a list of namespace names, got ["Pool_A"]'],
  ['metal', { hostPools: ['pool-a', 'pool-a'] }, false, 'variable metal.hostPools: lists a namespace twice: ["pool-a","pool-a"]'],
  ['metal', { hostSelector: { matchExpressions: [{ key: 'zone', operator: 'In' }] } }, false, 'variable metal.hostSelector: matchExpressions[0]: In needs at least one value'],
  ['metal', { hostSelector: { matchExpressions: [{ key: 'zone', operator: 'Exists', values: ['a'] }] } }, false, 'variable metal.hostSelector: matchExpressions[0]: Exists takes no values'],
  ['metal', { hostSelector: { matchExpressions: [{ key: 'zone', operator: 'Gt', values: ['1'] }] } }, true, 'variable metal.hostSelector: matchExpressions[0].operator must be In, NotIn, Exists or DoesNotExist, got "Gt"'],
  ['addons', 'everything', true, 'variable addons: must be one of none, minimal, standard, full, got "everything"'],
  ['loadBalancer', { address: '192.0.2.300' }, false, 'variable loadBalancer.address: must be an IP address, got "192.0.2.300"'],
  ['loadBalancer', { pool: 'Tenants' }, true, 'variable loadBalancer.pool: must be a pool name (a DNS label), got "Tenants"'],
  ['ssh', { authorizedKeys: [] }, true, 'variable ssh.authorizedKeys: must be a non-empty list of public keys, got []'],
  ['ssh', { authorizedKeys: ['AAAAB3NzaC1yc2E'] }, true, 'variable ssh.authorizedKeys[0]: is not an OpenSSH public key line (ssh-..., ecdsa-..., sk-...) nor github:<user> / gitlab:<user>'],
  ['ssh', { user: 'Root', authorizedKeys: ['ssh-ed25519 AAAA'] }, true, 'variable ssh.user: must be a user name such as kairos, got "Root"'],
];

describe('variable values', () => {
  it.each(BAD)('given %s = %j, should answer with the exact message', (name, value, schemaRejects, message) => {
    expect(problemsFor(name, value)).toEqual([message]);
    // Where the schema can say it, CAPI refuses the value before it reaches us.
    expect(validatorOf(name)(structuredClone(value))).toBe(!schemaRejects);
  });

  it('given good values, should type them', () => {
    const { values, problems } = parseValues(
      variableMap([
        { name: 'workers', value: { cpu: 8, memory: '32Gi' } },
        { name: 'gpu', value: { model: 'nvidia.com/GA102GL_A10' } },
        { name: 'loadBalancer', value: { address: 'fd00::10' } },
        { name: 'ssh', value: { authorizedKeys: ['github:ops'] } },
      ]),
    );
    expect(problems).toEqual([]);
    expect(values.workers).toEqual({ cpu: 8, memory: '32Gi', memoryBytes: 32 * 2 ** 30 });
    expect(values.gpu).toEqual({ count: 1, model: 'nvidia.com/GA102GL_A10' });
    expect(values.loadBalancer).toEqual({ address: 'fd00::10' });
    expect(values.ssh).toEqual({ user: 'kairos', authorizedKeys: ['github:ops'] });
    expect(values.addons).toBe('standard');
  });

  it('given global and per-MachineDeployment variables, should let the item override and merge builtin', () => {
    const map = variableMap(
      [
        { name: 'workers', value: { cpu: 2 } },
        { name: 'builtin', value: { cluster: { name: 'c' } } },
      ],
      [
        { name: 'workers', value: { cpu: 8 } },
        { name: 'builtin', value: { machineDeployment: { class: 'gpu' } } },
      ],
    );
    expect(map.get('workers')).toEqual({ cpu: 8 });
    expect(map.get('builtin')).toEqual({ cluster: { name: 'c' }, machineDeployment: { class: 'gpu' } });
  });
});

describe('settings', () => {
  it('given settings, should add reserved ranges to the flag’s and read the rest', () => {
    const base = { reservedCIDRs: [parseCidr('10.0.0.0/8')].filter((c) => typeof c !== 'string'), upgradeConcurrency: 3 };
    const { config, problems } = resolveConfig(base, { reservedCIDRs: '10.0.0.0/8,100.64.0.0/10', upgradeConcurrency: '1', gpuClass: 'accel', kairosImages: 'quay.io/k/u:v3-k8sv1.35.0' });
    expect(problems).toEqual([]);
    expect(config.reservedCIDRs.map((c) => c.text)).toEqual(['10.0.0.0/8', '100.64.0.0/10']);
    expect(config.upgradeConcurrency).toBe(1);
    expect(config.gpuClass).toBe('accel');
    expect(config.kairosImages.map((i) => i.ref)).toEqual(['quay.io/k/u:v3-k8sv1.35.0']);
    expect(config.loadBalancerPoolAnnotation).toBe('metallb.io/address-pool');
    expect(config.privateEndpointVIP).toBe('198.18.0.1');
  });

  it('given privateEndpointVIP, should take an IPv4 address, and none as no VIP', () => {
    const base = { reservedCIDRs: [], upgradeConcurrency: 3 };
    expect(resolveConfig(base, { privateEndpointVIP: '100.127.255.1' })).toMatchObject({ config: { privateEndpointVIP: '100.127.255.1' }, problems: [] });
    expect(resolveConfig(base, { privateEndpointVIP: 'none' })).toMatchObject({ config: { privateEndpointVIP: undefined }, problems: [] });
  });

  it('given bad settings, should name each', () => {
    const { problems } = resolveConfig(
      { reservedCIDRs: [], upgradeConcurrency: 3 },
      { reservedCIDRs: '10.1.1.1/8', upgradeConcurrency: '-1', loadBalancerPoolAnnotation: 'not a key', kairosImages: 'quay.io/k/u:latest', privateEndpointVIP: 'fd00::1' },
    );
    expect(problems).toEqual([
      'setting reservedCIDRs: "10.1.1.1/8" has host bits set: use 10.0.0.0/8',
      'setting kairosImages: "quay.io/k/u:latest" has no Kubernetes version in its tag: the tag must end with k8sv<major>.<minor>.<patch>, e.g. ...-k8sv1.35.0',
      'setting upgradeConcurrency: must be a whole number (0 for no limit), got "-1"',
      'setting loadBalancerPoolAnnotation: "not a key" is not an annotation key',
      "setting privateEndpointVIP: must be an IPv4 address (the kubevirt manager's IRONPLANE_CP_VIP) or none, got \"fd00::1\"",
    ]);
  });
});
