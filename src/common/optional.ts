import { ValidateIf, type ValidationOptions } from 'class-validator';

/**
 * An optional body field that, when present, must hold a value: absent (`undefined`) skips its other
 * validators, `null` does not — it fails them (e.g. "x must be a string") and is a 400, as the spec
 * says (optional, not nullable). class-validator's IsOptional also lets `null` through, which stored
 * `null` settings (answered against the schema) and reached code that expects the declared type (500).
 */
export function IsOptionalNotNull(options?: ValidationOptions): PropertyDecorator {
  return ValidateIf((_object: object, value: unknown) => value !== undefined, options);
}
