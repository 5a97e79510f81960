// Conversions from a CRD's structural OpenAPI v3 schema to
//  - a JSON schema for json-schema-to-typescript (types), and
//  - a JSON schema for ajv (validators).
// Both walks are structural: they only descend through properties, items,
// additionalProperties and the junctors, so a property that happens to be
// called "x-kubernetes-validations" or "default" (ClusterClass variable
// schemas have those) stays a property.
//
// The apiserver is the validator of record: CEL rules
// (x-kubernetes-validations), list-map key uniqueness and the other
// x-kubernetes-* semantics are left to it. What ajv checks here is a subset
// of what the apiserver checks, so a valid Kubernetes object is never
// rejected, with one deliberate exception: unknown fields are rejected where
// the schema lists properties (what `kubectl --validate=strict`, the default,
// does), because in templates and fixtures an unknown field is a typo.

/** A JSON-schema node as it appears in YAML: keys are keywords. */
export type Schema = { [keyword: string]: unknown };

export function isSchema(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function schemaMap(v: unknown): Record<string, Schema> | undefined {
  if (!isSchema(v)) return undefined;
  const out: Record<string, Schema> = {};
  for (const [k, s] of Object.entries(v)) if (isSchema(s)) out[k] = s;
  return out;
}

function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

const INT_OR_STRING = 'x-kubernetes-int-or-string';
const PRESERVE_UNKNOWN = 'x-kubernetes-preserve-unknown-fields';
const EMBEDDED_RESOURCE = 'x-kubernetes-embedded-resource';

/** An open object type, `{[k: string]: unknown}` once unknownAny is on. */
const OPEN_OBJECT_TS = '{ [k: string]: unknown }';

// ---------------------------------------------------------------------------
// Types

export interface TypeSchemaOptions {
  /** Keep descriptions as JSDoc. */
  descriptions: boolean;
}

/**
 * Converts a structural schema node to the input json-schema-to-typescript
 * expects. Value validations (pattern, bounds, anyOf/allOf/oneOf/not) carry
 * no type information in a structural schema, so they are dropped.
 */
export function toTypeSchema(node: Schema, opts: TypeSchemaOptions): Schema {
  const out: Schema = {};
  if (opts.descriptions && typeof node['description'] === 'string' && node['description'] !== '') {
    out['description'] = node['description'];
  }
  const nullable = node['nullable'] === true;
  const withTs = (ts: string): Schema => ({ ...out, tsType: nullable ? `${ts} | null` : ts });

  if (node[INT_OR_STRING] === true) return withTs('number | string');

  const preserve = node[PRESERVE_UNKNOWN] === true;
  const embedded = node[EMBEDDED_RESOURCE] === true;
  const props = schemaMap(node['properties']);
  let type = typeof node['type'] === 'string' ? node['type'] : undefined;
  if (type === undefined && (props !== undefined || embedded)) type = 'object';
  if (type === undefined) return withTs('unknown');

  switch (type) {
    case 'object': {
      const properties: Record<string, Schema> = {};
      for (const [name, s] of Object.entries(props ?? {})) properties[name] = toTypeSchema(s, opts);
      if (embedded) addEmbeddedResourceTypeFields(properties);
      const names = Object.keys(properties);
      const addl = node['additionalProperties'];
      if (names.length === 0 && !isSchema(addl)) {
        // A free-form map, or an object whose fields the apiserver prunes:
        // either way a caller sees string keys of unknown values.
        return withTs(OPEN_OBJECT_TS);
      }
      out['type'] = nullable ? ['object', 'null'] : 'object';
      if (names.length > 0) out['properties'] = properties;
      const required = (stringList(node['required']) ?? []).filter((r) => r in properties);
      if (required.length > 0) out['required'] = required;
      if (isSchema(addl)) out['additionalProperties'] = toTypeSchema(addl, opts);
      else out['additionalProperties'] = preserve || addl === true;
      return out;
    }
    case 'array': {
      const items = node['items'];
      out['type'] = nullable ? ['array', 'null'] : 'array';
      out['items'] = isSchema(items) ? toTypeSchema(items, opts) : { tsType: 'unknown' };
      return out;
    }
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean': {
      out['type'] = nullable ? [type, 'null'] : type;
      if (Array.isArray(node['enum'])) {
        out['enum'] = nullable && !node['enum'].includes(null) ? [...node['enum'], null] : node['enum'];
      }
      return out;
    }
    default:
      throw new Error(`unsupported schema type ${JSON.stringify(type)}`);
  }
}

function addEmbeddedResourceTypeFields(properties: Record<string, Schema>): void {
  properties['apiVersion'] ??= { type: 'string' };
  properties['kind'] ??= { type: 'string' };
  properties['metadata'] ??= { tsType: OPEN_OBJECT_TS };
}

export interface KindNames {
  group: string;
  version: string;
  kind: string;
}

/**
 * The whole object for json-schema-to-typescript: apiVersion and kind as
 * literal types, metadata as the shared ObjectMeta, spec and status as named
 * interfaces (<Kind>Spec, <Kind>Status).
 */
export function rootTypeSchema(names: KindNames, openAPIV3Schema: Schema, opts: TypeSchemaOptions): Schema {
  const apiVersion = apiVersionOf(names);
  const props = schemaMap(openAPIV3Schema['properties']) ?? {};
  const properties: Record<string, Schema> = {
    apiVersion: { tsType: tsString(apiVersion) },
    kind: { tsType: tsString(names.kind) },
    metadata: { tsType: 'ObjectMeta' },
  };
  for (const [name, s] of Object.entries(props)) {
    if (name === 'apiVersion' || name === 'kind' || name === 'metadata') continue;
    const converted = toTypeSchema(s, opts);
    if ((name === 'spec' || name === 'status') && converted['tsType'] === undefined) {
      converted['title'] = names.kind + (name === 'spec' ? 'Spec' : 'Status');
    }
    properties[name] = converted;
  }
  const required = ['apiVersion', 'kind', 'metadata'];
  for (const r of stringList(openAPIV3Schema['required']) ?? []) {
    if (r in properties && !required.includes(r)) required.push(r);
  }
  const root: Schema = { title: names.kind, type: 'object', properties, required, additionalProperties: false };
  if (opts.descriptions && typeof openAPIV3Schema['description'] === 'string') {
    root['description'] = openAPIV3Schema['description'];
  }
  return root;
}

export function apiVersionOf(names: { group: string; version: string }): string {
  return names.group === '' ? names.version : `${names.group}/${names.version}`;
}

/** A TypeScript string literal type. */
export function tsString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

// ---------------------------------------------------------------------------
// Validators

export interface ValidatorSchemaOptions {
  /** Formats ajv checks; any other format is dropped (accepted). */
  formats: ReadonlySet<string>;
}

/**
 * Kubernetes accepts date-times without a zone offset (go-openapi strfmt);
 * ajv-formats' "date-time" demands one and "iso-date-time" does not.
 */
const FORMAT_ALIASES: Readonly<Record<string, string>> = { 'date-time': 'iso-date-time' };

/** The ajv-formats name checked for a Kubernetes format. */
export function ajvFormatName(format: string): string {
  return FORMAT_ALIASES[format] ?? format;
}

const COPIED_KEYWORDS = [
  'type',
  'enum',
  'maximum',
  'minimum',
  'maxLength',
  'minLength',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'maxProperties',
  'minProperties',
] as const;

/**
 * Converts a structural schema node to a plain JSON schema for ajv. `closed`
 * says whether an object listing properties rejects other fields; it is off
 * inside junctors (anyOf/allOf/oneOf/not), whose branches only constrain
 * values and must not reject the siblings' fields.
 */
export function toValidatorSchema(node: Schema, opts: ValidatorSchemaOptions, closed = true): Schema {
  const out: Schema = {};
  for (const k of COPIED_KEYWORDS) if (node[k] !== undefined) out[k] = node[k];

  // OpenAPI 3.0 booleans → JSON-schema draft-07 numbers.
  for (const [excl, bound] of [
    ['exclusiveMaximum', 'maximum'],
    ['exclusiveMinimum', 'minimum'],
  ] as const) {
    const v = node[excl];
    if (v === true && typeof node[bound] === 'number') {
      out[excl] = node[bound];
      delete out[bound];
    } else if (typeof v === 'number') {
      out[excl] = v;
    }
  }
  if (node['nullable'] === true && out['type'] !== undefined) out['nullable'] = true;
  const format = node['format'];
  if (typeof format === 'string' && opts.formats.has(format)) out['format'] = ajvFormatName(format);
  if (typeof node['pattern'] === 'string' && isJsRegExp(node['pattern'])) out['pattern'] = node['pattern'];

  if (node[INT_OR_STRING] === true) {
    delete out['type'];
    if (!Array.isArray(node['anyOf'])) out['anyOf'] = [{ type: 'integer' }, { type: 'string' }];
  }

  const props = schemaMap(node['properties']);
  const embedded = node[EMBEDDED_RESOURCE] === true;
  if (props !== undefined || embedded) {
    const properties: Record<string, Schema> = {};
    for (const [name, s] of Object.entries(props ?? {})) properties[name] = toValidatorSchema(s, opts, closed);
    if (embedded) {
      properties['apiVersion'] ??= { type: 'string' };
      properties['kind'] ??= { type: 'string' };
      properties['metadata'] ??= { type: 'object' };
    }
    out['properties'] = properties;
  }
  const required = stringList(node['required']);
  if (required !== undefined) {
    // The apiserver defaults before it validates, so a required field with a
    // default may be omitted.
    const stillRequired = required.filter((r) => !isSchema(props?.[r]) || props[r]['default'] === undefined);
    if (stillRequired.length > 0) out['required'] = stillRequired;
  }
  const items = node['items'];
  if (isSchema(items)) out['items'] = toValidatorSchema(items, opts, closed);
  const addl = node['additionalProperties'];
  if (isSchema(addl)) out['additionalProperties'] = toValidatorSchema(addl, opts, closed);
  else if (typeof addl === 'boolean') out['additionalProperties'] = addl;
  else if (closed && props !== undefined && node[PRESERVE_UNKNOWN] !== true) out['additionalProperties'] = false;

  for (const j of ['allOf', 'anyOf', 'oneOf'] as const) {
    const branches = node[j];
    if (Array.isArray(branches)) out[j] = branches.filter(isSchema).map((b) => toValidatorSchema(b, opts, false));
  }
  const not = node['not'];
  if (isSchema(not)) out['not'] = toValidatorSchema(not, opts, false);
  return out;
}

/** Go RE2 syntax that JavaScript lacks (e.g. `(?i)`) is left to the apiserver. */
function isJsRegExp(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

/** Enough ObjectMeta to catch the usual template mistakes (a number as a label value). */
const METADATA_VALIDATOR: Schema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    generateName: { type: 'string' },
    namespace: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    finalizers: { type: 'array', items: { type: 'string' } },
    ownerReferences: {
      type: 'array',
      items: {
        type: 'object',
        required: ['apiVersion', 'kind', 'name', 'uid'],
        properties: {
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          name: { type: 'string' },
          uid: { type: 'string' },
          controller: { type: 'boolean' },
          blockOwnerDeletion: { type: 'boolean' },
        },
      },
    },
  },
};

/** The whole object for ajv: apiVersion and kind must match; metadata is checked lightly. */
export function rootValidatorSchema(names: KindNames, openAPIV3Schema: Schema, opts: ValidatorSchemaOptions): Schema {
  const root = toValidatorSchema(openAPIV3Schema, opts);
  const properties = isSchema(root['properties']) ? root['properties'] : {};
  root['type'] = 'object';
  root['properties'] = {
    ...properties,
    apiVersion: { type: 'string', const: apiVersionOf(names) },
    kind: { type: 'string', const: names.kind },
    metadata: structuredClone(METADATA_VALIDATOR),
  };
  const required = stringList(root['required']) ?? [];
  root['required'] = [...new Set(['apiVersion', 'kind', 'metadata', ...required])];
  if (root['additionalProperties'] === undefined) root['additionalProperties'] = false;
  return root;
}

/** Every format string used in a (raw) schema, found structurally. */
export function collectFormats(node: Schema, into = new Set<string>()): Set<string> {
  if (typeof node['format'] === 'string') into.add(node['format']);
  for (const s of Object.values(schemaMap(node['properties']) ?? {})) collectFormats(s, into);
  for (const k of ['items', 'additionalProperties', 'not']) {
    const s = node[k];
    if (isSchema(s)) collectFormats(s, into);
  }
  for (const j of ['allOf', 'anyOf', 'oneOf']) {
    const branches = node[j];
    if (Array.isArray(branches)) for (const b of branches) if (isSchema(b)) collectFormats(b, into);
  }
  return into;
}
