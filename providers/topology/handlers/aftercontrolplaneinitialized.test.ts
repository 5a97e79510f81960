import { describe, expect, it } from 'vitest';
import type { ClusterRequest } from '../api.js';
import { fixture } from '../testdata/fixtures.js';
import { ADDON_SETS, resolveConfig, type AddonSet } from '../variables.js';
import { afterControlPlaneInitialized } from './aftercontrolplaneinitialized.js';

const req = fixture<ClusterRequest>('aftercontrolplaneinitialized');
const withSet = (set: unknown, labels: Record<string, string> = {}, settings?: Record<string, string>): ClusterRequest => {
  const r = structuredClone(req);
  r.cluster.spec.topology!.variables!.find((v) => v.name === 'addons')!.value = set;
  r.cluster.metadata.labels = labels;
  if (settings) r.settings = settings;
  return r;
};

describe('AfterControlPlaneInitialized', () => {
  it('given the full add-on set, should label the Cluster for each component', () => {
    const { response, labels } = afterControlPlaneInitialized(req);
    expect(response).toEqual({ apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'AfterControlPlaneInitializedResponse', status: 'Success' });
    expect(labels).toEqual({
      'ironplane.dev/addon-set': 'full',
      'addons.ironplane.dev/cni': 'true',
      'addons.ironplane.dev/csi': 'true',
      'addons.ironplane.dev/monitoring': 'true',
      'addons.ironplane.dev/policies': 'true',
    });
  });

  it('given a smaller set than the labels say, should remove the others but keep the mandatory ones; given labels in place, should change nothing', () => {
    const r = withSet('minimal', { 'ironplane.dev/addon-set': 'full', 'addons.ironplane.dev/cni': 'true', 'addons.ironplane.dev/monitoring': 'true', 'addons.ironplane.dev/policies': 'true' });
    expect(afterControlPlaneInitialized(r).labels).toEqual({ 'ironplane.dev/addon-set': 'minimal', 'addons.ironplane.dev/monitoring': null });
    expect(afterControlPlaneInitialized(withSet('minimal', { 'ironplane.dev/addon-set': 'minimal', 'addons.ironplane.dev/cni': 'true', 'addons.ironplane.dev/policies': 'true' })).labels).toEqual({});
  });

  it('given the set none, should still label the mandatory policies add-on', () => {
    expect(afterControlPlaneInitialized(withSet('none')).labels).toEqual({ 'ironplane.dev/addon-set': 'none', 'addons.ironplane.dev/policies': 'true' });
    // A tenant's own removal of the label is undone.
    expect(afterControlPlaneInitialized(withSet('none', { 'ironplane.dev/addon-set': 'none' })).labels).toEqual({ 'addons.ironplane.dev/policies': 'true' });
  });

  it('given every set, should label the set’s components and the mandatory ones', () => {
    for (const set of Object.keys(ADDON_SETS) as AddonSet[]) {
      const labels = afterControlPlaneInitialized(withSet(set)).labels;
      const components = Object.keys(labels).filter((k) => k.startsWith('addons.ironplane.dev/')).map((k) => k.slice('addons.ironplane.dev/'.length)).sort();
      expect(components, set).toEqual([...new Set([...ADDON_SETS[set], 'policies'])].sort());
    }
  });

  it('given a mandatoryAddons setting, should label those instead; given it empty, none', () => {
    expect(afterControlPlaneInitialized(withSet('none', {}, { mandatoryAddons: 'monitoring,policies' })).labels).toEqual({
      'ironplane.dev/addon-set': 'none',
      'addons.ironplane.dev/monitoring': 'true',
      'addons.ironplane.dev/policies': 'true',
    });
    expect(afterControlPlaneInitialized(withSet('none', { 'addons.ironplane.dev/policies': 'true' }, { mandatoryAddons: '' })).labels).toEqual({ 'ironplane.dev/addon-set': 'none', 'addons.ironplane.dev/policies': null });
  });

  it('given a config, should take the mandatory add-ons from it, not from the request’s settings', () => {
    const { config } = resolveConfig({ reservedCIDRs: [], upgradeConcurrency: 0 }, { mandatoryAddons: 'policies' });
    // A forged request that empties the setting changes nothing.
    expect(afterControlPlaneInitialized(withSet('none', {}, { mandatoryAddons: '' }), config).labels).toEqual({ 'ironplane.dev/addon-set': 'none', 'addons.ironplane.dev/policies': 'true' });
  });

  it('given no addons variable, should use the default set', () => {
    const r = structuredClone(req);
    r.cluster.spec.topology!.variables = [];
    expect(afterControlPlaneInitialized(r).labels['ironplane.dev/addon-set']).toBe('standard');
  });

  it('given an unknown set or component, should fail with the exact message', () => {
    expect(afterControlPlaneInitialized(withSet('everything'))).toEqual({
      response: { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'AfterControlPlaneInitializedResponse', status: 'Failure', message: 'variable addons: must be one of none, minimal, standard, full, got "everything"' },
      labels: {},
    });
    expect(afterControlPlaneInitialized(withSet('none', {}, { mandatoryAddons: 'policies,firewall' }))).toEqual({
      response: {
        apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
        kind: 'AfterControlPlaneInitializedResponse',
        status: 'Failure',
        message: 'setting mandatoryAddons: "firewall" is not an add-on component (cni, csi, monitoring, policies)',
      },
      labels: {},
    });
  });
});
