import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { problem } from './problem';

function flatten(errors: ValidationError[], parent = ''): Array<{ field: string; message: string }> {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/**
 * Nest's ValidationPipe reads a JSON `null` body as `{}` (toEmptyIfNil), so `null` passed where the
 * spec declares an object (found by schemathesis: POST /api/agents/:id/ws-ticket answered 201 to the
 * body `null`). A missing body stays what it was: optional where the route says so.
 */
const PRIMITIVE = new Set<unknown>([String, Number, Boolean, Array, Object]);

class BodyValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && value === null && typeof metadata.metatype === 'function' && !PRIMITIVE.has(metadata.metatype)) {
      throw problem.badRequest('the body must be a JSON object, not null', [{ field: 'body', message: 'the body must be a JSON object, not null' }]);
    }
    return super.transform(value, metadata);
  }
}

/** DTO validation for every route: unknown fields refused, every error listed, answered as 400 validation_failed. */
export function validationPipe(): ValidationPipe {
  return new BodyValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const list = flatten(errors);
      return problem.badRequest(list.map((e) => e.message).join('; ') || 'invalid input', list);
    },
  });
}
