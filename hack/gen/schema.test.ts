import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { compileTypes } from './generator.js';
import { collectFormats, rootTypeSchema, toTypeSchema, toValidatorSchema, type Schema } from './schema.js';

const typeOpts = { descriptions: false };

/** Runs the converted schema through json-schema-to-typescript as the generator does. */
async function tsOf(node: Schema): Promise<string> {
  const root: Schema = {
    title: 'T',
    type: 'object',
    properties: { f: toTypeSchema(node, typeOpts) },
    required: ['f'],
    additionalProperties: false,
  };
  return (await compileTypes(root, 'T')).replace(/\s+/g, ' ').trim();
}

function validatorFor(node: Schema, formats: string[] = []): (v: unknown) => boolean {
  const ajv = new Ajv({ strict: true, strictTypes: false, strictRequired: false, unicodeRegExp: false });
  const v = ajv.compile(toValidatorSchema(node, { formats: new Set(formats) }));
  return (x) => v(x);
}

describe('toTypeSchema', () => {
  it('given x-kubernetes-int-or-string, should type the field as number | string', async () => {
    const node = { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
    expect(await tsOf(node)).toBe('export interface T { f: number | string; }');
  });

  it('given a preserve-unknown-fields object without properties, should type it as an open map of unknown', async () => {
    expect(await tsOf({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true })).toBe(
      'export interface T { f: { [k: string]: unknown }; }',
    );
  });

  it('given a preserve-unknown-fields object with properties, should keep them and allow unknown extras', async () => {
    const node = {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
      properties: { name: { type: 'string' } },
      required: ['name'],
    };
    expect(await tsOf(node)).toBe('export interface T { f: { name: string; [k: string]: unknown; }; }');
  });

  it('given a schemaless preserve-unknown-fields node, should type it unknown, never any', async () => {
    expect(await tsOf({ 'x-kubernetes-preserve-unknown-fields': true })).toBe('export interface T { f: unknown; }');
  });

  it('given an object with properties, should close it and drop value validations', async () => {
    const node = {
      type: 'object',
      properties: { size: { type: 'integer', minimum: 0 }, tags: { type: 'array', maxItems: 2, items: { type: 'string' } } },
      'x-kubernetes-validations': [{ rule: 'self.size > 0' }],
    };
    expect(await tsOf(node)).toBe('export interface T { f: { size?: number; tags?: string[]; }; }');
  });

  it('given a property literally named x-kubernetes-validations, should keep it as a property', async () => {
    const node = { type: 'object', properties: { 'x-kubernetes-validations': { type: 'boolean' } } };
    expect(await tsOf(node)).toBe("export interface T { f: { 'x-kubernetes-validations'?: boolean; }; }");
  });

  it('given nullable and enum, should produce a literal union with null', async () => {
    expect(await tsOf({ type: 'string', enum: ['A', 'B'], nullable: true })).toBe(
      "export interface T { f: 'A' | 'B' | null; }",
    );
  });

  it('given a whole CRD schema, should type apiVersion/kind as literals and name spec and status', async () => {
    const root = rootTypeSchema(
      { group: 'g.example', version: 'v1', kind: 'Thing' },
      { type: 'object', properties: { spec: { type: 'object', properties: { a: { type: 'string' } } }, status: { type: 'object', properties: { b: { type: 'integer' } } } } },
      typeOpts,
    );
    const ts = (await compileTypes(root, 'Thing')).replace(/\s+/g, ' ');
    expect(ts).toContain("export interface Thing { apiVersion: 'g.example/v1'; kind: 'Thing'; metadata: ObjectMeta; spec?: ThingSpec; status?: ThingStatus; }");
    expect(ts).toContain('export interface ThingSpec { a?: string; }');
    expect(ts).toContain('export interface ThingStatus { b?: number; }');
  });
});

describe('toValidatorSchema', () => {
  it('given int-or-string, should accept integers and strings only', () => {
    const v = validatorFor({ type: 'object', properties: { n: { 'x-kubernetes-int-or-string': true } } });
    expect(v({ n: 3 })).toBe(true);
    expect(v({ n: '50%' })).toBe(true);
    expect(v({ n: true })).toBe(false);
    expect(v({ n: 1.5 })).toBe(false);
  });

  it('should drop x-kubernetes-* keywords and CEL rules but keep properties that carry those names', () => {
    const out = toValidatorSchema(
      {
        type: 'object',
        'x-kubernetes-validations': [{ rule: 'false' }],
        'x-kubernetes-map-type': 'atomic',
        properties: { 'x-kubernetes-validations': { type: 'boolean' } },
      },
      { formats: new Set() },
    );
    expect(out).toEqual({
      type: 'object',
      properties: { 'x-kubernetes-validations': { type: 'boolean' } },
      additionalProperties: false,
    });
  });

  it('given listed properties, should reject unknown fields, except under preserve-unknown-fields', () => {
    const closed = validatorFor({ type: 'object', properties: { a: { type: 'string' } } });
    expect(closed({ a: 'x' })).toBe(true);
    expect(closed({ a: 'x', typo: 1 })).toBe(false);
    const open = validatorFor({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { a: { type: 'string' } } });
    expect(open({ a: 'x', extra: { any: 'thing' } })).toBe(true);
    const map = validatorFor({ type: 'object', additionalProperties: { type: 'string' } });
    expect(map({ k: 'v' })).toBe(true);
    expect(map({ k: 1 })).toBe(false);
  });

  it('should not close objects inside anyOf/allOf branches (value validations only)', () => {
    const v = validatorFor({
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'string' } },
      anyOf: [{ properties: { a: { minLength: 2 } } }, { required: ['c'] }],
    });
    // Only the first branch holds, and it must not reject the sibling b.
    expect(v({ a: 'xy', b: 'z' })).toBe(true);
    expect(v({ a: 'x', b: 'z' })).toBe(false);
  });

  it('should convert OpenAPI boolean exclusiveMinimum to draft-07 numbers', () => {
    const v = validatorFor({ type: 'integer', minimum: 0, exclusiveMinimum: true });
    expect(v(0)).toBe(false);
    expect(v(1)).toBe(true);
  });

  it('should not require fields the apiserver defaults', () => {
    const v = validatorFor({
      type: 'object',
      required: ['mode', 'name'],
      properties: { mode: { type: 'string', default: 'Auto' }, name: { type: 'string' } },
    });
    expect(v({ name: 'a' })).toBe(true);
    expect(v({ mode: 'Auto' })).toBe(false);
  });

  it('should keep only checked formats and skip RE2-only patterns', () => {
    const out = toValidatorSchema(
      {
        type: 'object',
        properties: {
          q: { type: 'string', format: 'quantity' },
          t: { type: 'string', format: 'date-time' },
          p: { type: 'string', pattern: '(?i)^abc$' },
        },
      },
      { formats: new Set(['date-time']) },
    );
    expect(out['properties']).toEqual({
      q: { type: 'string' },
      t: { type: 'string', format: 'iso-date-time' },
      p: { type: 'string' },
    });
  });

  it('should find formats structurally', () => {
    const formats = collectFormats({
      type: 'object',
      properties: {
        a: { type: 'string', format: 'date-time' },
        b: { type: 'array', items: { type: 'integer', format: 'int32' } },
        format: { type: 'string' },
      },
    });
    expect([...formats].sort()).toEqual(['date-time', 'int32']);
  });
});
