import { describe, expect, it } from 'vitest';
import type { DiscoverVariablesRequest } from '../api.js';
import { fixture } from '../testdata/fixtures.js';
import { VARIABLES, variablesFor } from '../variables.js';
import { discoverVariables } from './discovervariables.js';

const req = fixture<DiscoverVariablesRequest>('discovervariables');
const SHIPPED = { allowedImageRegistries: 'quay.io/kairos', allowedGPUModels: 'nvidia.com/GA102GL_A10', allowedDataStores: 'default,etcd-gold', allowedLoadBalancerPools: 'tenants' };

describe('DiscoverVariables', () => {
  it('should return every variable, restricted to the allowlists of the settings CAPI sends', () => {
    const res = discoverVariables({ ...req, settings: { ...req.settings, ...SHIPPED } });
    expect(res.status).toBe('Success');
    expect(res.kind).toBe('DiscoverVariablesResponse');
    expect(res.variables!.map((v) => v.name)).toEqual(VARIABLES.map((v) => v.name));
    expect(res.variables).toEqual(variablesFor(SHIPPED).variables);
    const gpu = res.variables!.find((v) => v.name === 'gpu')!.schema.openAPIV3Schema;
    expect(gpu.properties!['model']!.enum).toEqual(['nvidia.com/GA102GL_A10']);
    // Settings the schemas do not depend on change nothing.
    expect(discoverVariables({ ...req, settings: { ...SHIPPED, gpuClass: 'x', reservedCIDRs: '10.0.0.0/8' } }).variables).toEqual(res.variables);
  });

  it('given the same settings twice, should answer the same (CAPI caches the answer per settings)', () => {
    expect(JSON.stringify(discoverVariables({ ...req, settings: SHIPPED }))).toBe(JSON.stringify(discoverVariables({ ...req, settings: { ...SHIPPED } })));
  });

  it('should not change the shared definitions', () => {
    const before = structuredClone(VARIABLES);
    discoverVariables({ ...req, settings: SHIPPED });
    expect(VARIABLES).toEqual(before);
  });

  it('given settings the schemas cannot be built from, should fail naming each', () => {
    expect(discoverVariables({ ...req, settings: { allowedImageRegistries: 'docker://evil.io', allowedLoadBalancerPools: 'Pool A' } })).toEqual({
      apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
      kind: 'DiscoverVariablesResponse',
      status: 'Failure',
      message:
        'setting allowedImageRegistries: "docker://evil.io" is not a registry or repository prefix: write host[:port][/path] in lowercase, without a scheme, e.g. quay.io/kairos; ' +
        'setting allowedLoadBalancerPools: "Pool A" is not a pool name (a DNS label)',
    });
  });
});
