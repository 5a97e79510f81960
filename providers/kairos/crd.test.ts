import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateKairosConfig } from '../api/generated/ironplane/v1alpha1/kairosconfig.js';
import { validateKairosConfigTemplate } from '../api/generated/ironplane/v1alpha1/kairosconfigtemplate.js';
import { validateOrThrow } from '../api/validate.js';

const BASES = path.resolve(import.meta.dirname, '../../config/crd/bases');
type Crd = {
  metadata: { name: string; labels: Record<string, string> };
  spec: { group: string; names: { kind: string; plural: string; categories: string[] }; versions: { name: string; schema: { openAPIV3Schema: { properties: Record<string, Record<string, unknown>> } }; subresources?: unknown }[] };
};
const crd = (file: string) => parse(fs.readFileSync(path.join(BASES, file), 'utf8')) as Crd;
const config = crd('bootstrap.ironplane.dev_kairosconfigs.yaml');
const template = crd('bootstrap.ironplane.dev_kairosconfigtemplates.yaml');

describe('KairosConfig and KairosConfigTemplate CRDs', () => {
  it("should repeat KairosConfig's spec schema verbatim as the template's spec.template.spec", () => {
    const spec = config.spec.versions[0]!.schema.openAPIV3Schema.properties['spec'];
    const tspec = (template.spec.versions[0]!.schema.openAPIV3Schema.properties['spec'] as { properties: { template: { properties: { spec: unknown } } } }).properties.template.properties.spec;
    expect(tspec).toEqual(spec);
  });

  it("should carry Cluster API's contract label, our categories, and the name CAPI computes", () => {
    for (const c of [config, template]) {
      expect(c.metadata.labels).toEqual({ 'cluster.x-k8s.io/v1beta2': 'v1alpha1' });
      expect(c.spec.names.categories).toEqual(['cluster-api', 'ironplane']);
      expect(c.metadata.name).toBe(`${c.spec.names.kind.toLowerCase()}s.${c.spec.group}`);
      expect(c.spec.versions.map((v) => v.name)).toEqual(['v1alpha1']);
    }
    expect(config.spec.versions[0]!.subresources).toEqual({ status: {} });
  });

  it('the generated validators should reject unknown fields, naming them', () => {
    const obj = { apiVersion: 'bootstrap.ironplane.dev/v1alpha1', kind: 'KairosConfig', metadata: { name: 'w' }, spec: { instal: {} } };
    expect(() => validateOrThrow(validateKairosConfig, obj, 'KairosConfig w')).toThrow("KairosConfig w is invalid: /spec must NOT have additional properties 'instal'");
    const t = { apiVersion: 'bootstrap.ironplane.dev/v1alpha1', kind: 'KairosConfigTemplate', metadata: { name: 't' }, spec: { template: { spec: { kubelet: { extraArg: [] } } } } };
    expect(() => validateOrThrow(validateKairosConfigTemplate, t, 'template t')).toThrow("template t is invalid: /spec/template/spec/kubelet must NOT have additional properties 'extraArg'");
  });
});

/**
 * A kind's spec as its template must carry it: the same schema and rules,
 * minus transition rules (a template is compared against its replacement by a
 * dry-run update, which must pass) and minus providerID (each machine gets its
 * own).
 */
function asTemplateSpec(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(asTemplateSpec);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k !== 'x-kubernetes-validations') out[k] = asTemplateSpec(v);
    else {
      const kept = (v as { rule: string }[]).filter((r) => !/\boldSelf\b/.test(r.rule));
      if (kept.length) out[k] = asTemplateSpec(kept);
    }
  }
  return out;
}

describe('every template CRD', () => {
  const root = (c: Crd) => c.spec.versions[0]!.schema.openAPIV3Schema as unknown as { properties: Record<string, { properties?: Record<string, unknown> }>; 'x-kubernetes-validations'?: unknown };
  it.each([
    ['infrastructure.ironplane.dev_kvmclusters.yaml', 'infrastructure.ironplane.dev_kvmclustertemplates.yaml'],
    ['infrastructure.ironplane.dev_kvmmachines.yaml', 'infrastructure.ironplane.dev_kvmmachinetemplates.yaml'],
    ['infrastructure.ironplane.dev_metalclusters.yaml', 'infrastructure.ironplane.dev_metalclustertemplates.yaml'],
    ['infrastructure.ironplane.dev_metalmachines.yaml', 'infrastructure.ironplane.dev_metalmachinetemplates.yaml'],
    ['bootstrap.ironplane.dev_kairosconfigs.yaml', 'bootstrap.ironplane.dev_kairosconfigtemplates.yaml'],
  ])("should repeat %s's spec as spec.template.spec, without transition rules or providerID", (kindFile, templateFile) => {
    const spec = structuredClone(root(crd(kindFile)).properties['spec']) as { properties: Record<string, unknown> };
    delete spec.properties['providerID'];
    const tspec = (root(crd(templateFile)).properties['spec']!.properties!['template'] as { properties: { spec: unknown } }).properties.spec;
    expect(tspec).toEqual(asTemplateSpec(spec));
    expect(JSON.stringify(tspec)).not.toMatch(/oldSelf/);
    expect(root(crd(templateFile))['x-kubernetes-validations']).toEqual([{ rule: 'has(self.spec)', message: 'spec is required', fieldPath: '.spec', reason: 'FieldValueRequired' }]);
  });
});
