// Runtime side of the generated ajv validators. The validators themselves are
// precompiled (ajv standalone code under generated/), so nothing here compiles
// a schema at runtime.
import type { ErrorObject } from 'ajv';

/** A precompiled validator: a type guard that leaves its errors on `.errors`. */
export interface Validator<T> {
  (data: unknown): data is T;
  errors?: ErrorObject[] | null;
}

/** One line per ajv error: "<instancePath> <message>", with the offending name or allowed values. */
export function formatErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const path = e.instancePath === '' ? '/' : e.instancePath;
    let msg = `${path} ${e.message ?? e.keyword}`;
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
      msg += ` '${params['additionalProperty']}'`;
    } else if (e.keyword === 'enum' && Array.isArray(params['allowedValues'])) {
      msg += `: ${params['allowedValues'].map((v) => JSON.stringify(v)).join(', ')}`;
    } else if (e.keyword === 'const' && 'allowedValue' in params) {
      msg += `: ${JSON.stringify(params['allowedValue'])}`;
    }
    return msg;
  });
}

/**
 * Validates obj and returns it typed, or throws one Error listing every
 * problem, e.g. "Widget default/a is invalid: /spec/size must be >= 0".
 * `what` names the object for the message.
 */
export function validateOrThrow<T>(validator: Validator<T>, obj: unknown, what: string): T {
  if (validator(obj)) return obj;
  const lines = formatErrors(validator.errors);
  throw new Error(`${what} is invalid: ${lines.length > 0 ? lines.join('; ') : 'unknown validation error'}`);
}
