import { Ajv, type ErrorObject } from 'ajv';

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });

/**
 * A JSON number that is summed (or squared) into aggregates. Ajv already refuses the Infinity
 * that `1e400` parses to, but two finite values near 1.8e308 add up to Infinity, which a
 * float8 column takes silently; within ±1e100, sums and sums of squares of any number of
 * readings stay finite.
 */
export const SUMMABLE_NUMBER = { type: 'number', minimum: -1e100, maximum: 1e100 } as const;

/** `/data: must have required property 'message_id'`: the JSON Pointer of the failure. */
export function formatSchemaError(e: ErrorObject): string {
  return `${e.instancePath === '' ? '/' : e.instancePath}: ${e.message ?? 'is invalid'}`;
}

/** Compiles once; the returned check gives null when valid, else the reason. */
export function compileSchema(schema: object): (value: unknown) => string | null {
  const validate = ajv.compile(schema);
  return (value) => {
    if (validate(value)) return null;
    const errors = validate.errors ?? [];
    // An anyOf of `required` alternatives fails with one error per alternative: say them all.
    const anyOf = errors.find((e) => e.keyword === 'anyOf');
    if (anyOf !== undefined) {
      const missing = errors.filter((e) => e.keyword === 'required' && e.instancePath === anyOf.instancePath).map((e) => `'${String(e.params['missingProperty'])}'`);
      if (missing.length > 1) return `${anyOf.instancePath === '' ? '/' : anyOf.instancePath}: must have at least one of the properties ${missing.join(', ')}`;
    }
    const first = errors[0];
    return first === undefined ? 'does not match the schema' : formatSchemaError(first);
  };
}
