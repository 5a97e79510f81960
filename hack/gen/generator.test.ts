import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Validator } from '../../providers/api/validate.js';
import { validateOrThrow } from '../../providers/api/validate.js';
import { validateWidget, WidgetResource, type Widget } from '../../test/fixtures/generated/index.js';
import { assertNoAny, diffResults, generateSources, HEADER, writeResults, type Source } from './generator.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const fixtures: Source = { name: 'fixtures', crdDir: 'test/fixtures/crds', out: 'test/fixtures/generated' };
// A small slice of the real CAPI CRDs: one kind with a validator, one without.
const capiSlice: Source = {
  name: 'capi',
  crdDir: 'config/external/capi',
  out: 'providers/api/generated/capi',
  versions: ['v1beta2'],
  kinds: ['IPAddress', 'MachineDrainRule'],
  validators: ['IPAddress'],
};

const validWidget: Widget = {
  apiVersion: 'test.ironplane.dev/v1alpha1',
  kind: 'Widget',
  metadata: { name: 'a', namespace: 'default', labels: { app: 'w' } },
  spec: { size: 3 },
  status: {
    observedSize: 3,
    conditions: [{ type: 'Ready', status: 'True', reason: 'Sized', lastTransitionTime: '2026-01-02T03:04:05Z' }],
  },
};

// Temp dirs live inside the repo so generated validators resolve ajv from node_modules.
let tmp: string;
beforeAll(async () => {
  await fs.mkdir(path.join(root, '.tmp'), { recursive: true });
  tmp = await fs.mkdtemp(path.join(root, '.tmp', 'gen-test-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function readTree(dir: string, rel = '', out = new Map<string, string>()): Promise<Map<string, string>> {
  const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const child = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) await readTree(dir, child, out);
    else out.set(child, await fs.readFile(path.join(dir, child), 'utf8'));
  }
  return out;
}

describe('generated Widget validator (committed output)', () => {
  it('given size -1, should reject naming /spec/size', () => {
    const bad = { ...validWidget, spec: { size: -1 } };
    expect(validateWidget(bad)).toBe(false);
    expect(() => validateOrThrow(validateWidget, bad, 'Widget default/a')).toThrow(
      'Widget default/a is invalid: /spec/size must be >= 0',
    );
  });

  it('given a valid Widget, should accept it and return it typed', () => {
    expect(validateOrThrow(validateWidget, validWidget, 'Widget default/a')).toBe(validWidget);
  });

  it('given several problems, should list every one with its path', () => {
    const bad = {
      apiVersion: 'test.ironplane.dev/v1',
      kind: 'Widget',
      metadata: { name: 'a', labels: { tier: 1 } },
      spec: { size: 'big', colour: 'red' },
      status: { conditions: [{ type: 'Ready', status: 'Maybe', lastTransitionTime: 'yesterday' }] },
    };
    let message = '';
    try {
      validateOrThrow(validateWidget, bad, 'Widget a');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('/apiVersion must be equal to constant: "test.ironplane.dev/v1alpha1"');
    expect(message).toContain('/metadata/labels/tier must be string');
    expect(message).toContain('/spec/size must be integer');
    expect(message).toContain("/spec must NOT have additional properties 'colour'");
    expect(message).toContain('/status/conditions/0/status must be equal to one of the allowed values: "True", "False", "Unknown"');
    expect(message).toContain('/status/conditions/0/lastTransitionTime must match format "iso-date-time"');
  });

  it('should describe where the kind lives', () => {
    expect(WidgetResource).toEqual({
      group: 'test.ironplane.dev',
      version: 'v1alpha1',
      kind: 'Widget',
      plural: 'widgets',
      namespaced: true,
      apiVersion: 'test.ironplane.dev/v1alpha1',
    });
  });
});

describe('generator', () => {
  it('should produce byte-identical output on every run', async () => {
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    await writeResults(await generateSources([fixtures, capiSlice], { root }), a);
    await writeResults(await generateSources([fixtures, capiSlice], { root }), b);
    const ta = await readTree(a);
    const tb = await readTree(b);
    expect([...ta.keys()]).toEqual([
      'providers/api/generated/capi/index.ts',
      'providers/api/generated/capi/v1beta2/index.ts',
      'providers/api/generated/capi/v1beta2/ipaddress.ts',
      'providers/api/generated/capi/v1beta2/ipaddress.validator.ts',
      'providers/api/generated/capi/v1beta2/machinedrainrule.ts',
      'test/fixtures/generated/index.ts',
      'test/fixtures/generated/v1alpha1/index.ts',
      'test/fixtures/generated/v1alpha1/widget.ts',
      'test/fixtures/generated/v1alpha1/widget.validator.ts',
    ]);
    expect(tb).toEqual(ta);
    for (const [file, content] of ta) {
      expect(content.startsWith(`${HEADER}\n`), file).toBe(true);
      if (!file.endsWith('.validator.ts')) assertNoAny(content, file);
    }
  });

  it('should emit a validator module that works without compiling anything at runtime', async () => {
    const out = path.join(tmp, 'fresh');
    await writeResults(await generateSources([fixtures], { root }), out);
    const mod = (await import(pathToFileURL(path.join(out, 'test/fixtures/generated/index.ts')).href)) as {
      validateWidget: Validator<Widget>;
    };
    expect(mod.validateWidget(validWidget)).toBe(true);
    expect(mod.validateWidget({ ...validWidget, spec: { size: -1 } })).toBe(false);
    expect(mod.validateWidget.errors?.map((e) => e.instancePath)).toEqual(['/spec/size']);
  });

  it('should report drift by file and clean up files it no longer generates', async () => {
    const out = path.join(tmp, 'drift');
    const results = await generateSources([fixtures], { root });
    await writeResults(results, out);
    expect(await diffResults(results, out)).toEqual([]);

    const kindFile = path.join(out, 'test/fixtures/generated/v1alpha1/widget.ts');
    await fs.appendFile(kindFile, '// edited\n');
    await fs.rm(path.join(out, 'test/fixtures/generated/index.ts'));
    const stale = path.join(out, 'test/fixtures/generated/v1beta1/gadget.ts');
    await fs.mkdir(path.dirname(stale), { recursive: true });
    await fs.writeFile(stale, `${HEADER}\nexport {};\n`);
    const handWritten = path.join(out, 'test/fixtures/generated/README.md');
    await fs.writeFile(handWritten, 'not generated\n');

    expect(await diffResults(results, out)).toEqual([
      { file: 'test/fixtures/generated/index.ts', state: 'missing' },
      { file: 'test/fixtures/generated/v1alpha1/widget.ts', state: 'changed' },
      { file: 'test/fixtures/generated/v1beta1/gadget.ts', state: 'stale' },
    ]);
    await writeResults(results, out);
    expect(await diffResults(results, out)).toEqual([]);
    await expect(fs.access(path.dirname(stale))).rejects.toThrow();
    expect(await fs.readFile(handWritten, 'utf8')).toBe('not generated\n');
  });

  it('should skip a source whose CRD directory does not exist', async () => {
    const lines: string[] = [];
    const [r] = await generateSources([{ name: 'none', crdDir: 'config/does-not-exist', out: '.tmp/none' }], {
      root,
      log: (l) => lines.push(l),
    });
    expect(r?.files).toBeUndefined();
    expect(lines).toEqual(['gen: none: config/does-not-exist does not exist; skipped']);
  });

  it('should refuse unknown kinds in the sources list', async () => {
    await expect(generateSources([{ ...capiSlice, validators: ['Clustr'] }], { root })).rejects.toThrow(
      'unknown validator kinds Clustr',
    );
  });
});

describe('assertNoAny', () => {
  it('should reject any in code but not in comments', () => {
    expect(() => assertNoAny('/** accepts any value */\nexport interface A { a: unknown }', 'x')).not.toThrow();
    expect(() => assertNoAny('export interface A {\n  a: any;\n}', 'x.ts')).toThrow('x.ts: generated types contain `any`');
  });
});
