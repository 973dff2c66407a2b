import { ValidateBy, type ValidationOptions } from 'class-validator';

/**
 * Validation rules of environment keys, each one constraint with one message that says what is allowed
 * (class-validator's IsInt + Min + Max would report up to three messages for `PORT=abc`, and IsEnum
 * over an array lists no values). The messages never contain the value, which may be a secret.
 */

/** One of `values` (the message lists them). */
export function OneOf(values: readonly (string | boolean)[], options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'oneOf',
      constraints: [values],
      validator: {
        validate: (value: unknown) => values.includes(value as string | boolean),
        defaultMessage: () => `must be one of: ${values.join(', ')}`,
      },
    },
    options,
  );
}

/** An integer in [min, max] (max optional). The value arrives as a number when the env string is an integer (toInt). */
export function IntRange(min: number, max?: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'intRange',
      constraints: [min, max],
      validator: {
        validate: (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value >= min && (max === undefined || value <= max),
        defaultMessage: () => (max === undefined ? `must be an integer of at least ${min}` : `must be an integer from ${min} to ${max}`),
      },
    },
    options,
  );
}
