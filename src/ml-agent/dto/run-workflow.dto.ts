import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { IsObject, IsString, Matches, MaxLength, ValidateBy, ValidationOptions } from 'class-validator';
import { IsOptionalNotNull } from '../../common/optional';
import { IsTrinoIdentifier, TRINO_IDENTIFIER, TRINO_IDENTIFIER_RULE } from '../trino-identifier';

/** A workflow name: what ML-Agent dispatches on (e.g. profile, preview, train_classifier). */
export const WORKFLOW_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * Parameter names that would name the submitter, compared in lowercase without `_`, `-`, `.` and
 * spaces (so `submitted_by`, `User-Name`, `EMAIL` match): refused at any depth of `parameters`, in
 * objects and arrays alike, so nothing a client writes can stand in for the identity the BFF takes
 * from the verified token. Keys that merely contain such a word (`emailColumn`, `userCount`) are fine.
 */
export const IDENTITY_PARAMETER_NAMES: ReadonlySet<string> = new Set([
  'email',
  'emailaddress',
  'mail',
  'user',
  'username',
  'userid',
  'useremail',
  'login',
  'principal',
  'owner',
  'submittedby',
  'submitter',
  'createdby',
  'requestedby',
  'runas',
  'runasuser',
]);

const isIdentityName = (key: string): boolean => IDENTITY_PARAMETER_NAMES.has(key.toLowerCase().replace(/[-_. ]/g, ''));

/**
 * The path (e.g. `parameters.runs[1].user`) of the first key naming the submitter anywhere in
 * `value`, or undefined. Walks with an explicit stack (no recursion, whatever the depth) in document order.
 */
export function identityParameterPath(value: unknown, root = 'parameters'): string | undefined {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: root }];
  while (stack.length > 0) {
    const { value: here, path } = stack.pop()!;
    if (here === null || typeof here !== 'object') continue;
    const children: Array<{ value: unknown; path: string }> = [];
    if (Array.isArray(here)) here.forEach((v, i) => children.push({ value: v, path: `${path}[${i}]` }));
    else {
      for (const [k, v] of Object.entries(here)) {
        if (isIdentityName(k)) return `${path}.${k}`;
        children.push({ value: v, path: `${path}.${k}` });
      }
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return undefined;
}

function HasNoIdentityParameters(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'hasNoIdentityParameters',
      validator: {
        validate: (value: unknown) => identityParameterPath(value) === undefined,
        defaultMessage: (args) =>
          `parameters must not name the submitter (email, user, submittedBy, … at any depth; found ${identityParameterPath(args?.value) ?? 'one'}): it is taken from the token`,
      },
    },
    options,
  );
}

/**
 * Body of POST /chatbot/run-workflow-trino. The submitter's email is not part of it: the BFF adds
 * the email of the verified token. An `email` field sent by a client is accepted for compatibility
 * with the frontends that called ML-Agent directly, and ignored: it is never forwarded.
 */
export class RunWorkflowRequestDto {
  @ApiProperty({ example: 'tpch', pattern: TRINO_IDENTIFIER.source, description: `Catalog of the table; ${TRINO_IDENTIFIER_RULE}` })
  @IsTrinoIdentifier()
  catalog!: string;

  @ApiProperty({ example: 'tiny', pattern: TRINO_IDENTIFIER.source, description: `Schema of the table; ${TRINO_IDENTIFIER_RULE}` })
  @IsTrinoIdentifier()
  schema!: string;

  @ApiProperty({ example: 'nation', pattern: TRINO_IDENTIFIER.source, description: `The table the workflow runs on; ${TRINO_IDENTIFIER_RULE}` })
  @IsTrinoIdentifier()
  table!: string;

  @ApiProperty({
    example: 'profile',
    pattern: WORKFLOW_NAME.source,
    description: 'Workflow to run: 1-64 letters, digits, dot, underscore or dash, starting with a letter',
  })
  @IsString()
  @Matches(WORKFLOW_NAME, { message: 'workflow must be 1-64 letters, digits, dot, underscore or dash, starting with a letter' })
  workflow!: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { sampleRows: 1000, columns: ['n_name', 'n_regionkey'] },
    description:
      'Workflow parameters (a JSON object, passed to ML-Agent as it is); no key at any depth may name the submitter ' +
      '(email, user, username, userId, submittedBy, owner, …: 400 naming its path)',
  })
  @IsOptionalNotNull()
  @IsObject({ message: 'parameters must be a JSON object' })
  @HasNoIdentityParameters()
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({
    type: String,
    deprecated: true,
    example: 'someone@example.com',
    maxLength: 320,
    description: 'Ignored and never forwarded: ML-Agent gets the email of the verified token',
  })
  // A string, as declared (schemathesis found an object accepted); its value is never read.
  @IsOptionalNotNull()
  @IsString()
  @MaxLength(320)
  email?: string;
}

/** ML-Agent's answer to a workflow run: its JSON object, passed through as it is (see WORKFLOW_RUN_SCHEMA). */
export type WorkflowRunAnswer = Record<string, unknown>;

/**
 * The OpenAPI schema of ML-Agent's answer to a run. No platform document fixes that answer (a Python
 * ML-Agent may well answer `run_id`), so the BFF does not reshape it: any JSON object is passed
 * through. The properties listed are what the sandbox ML-Agent answers, as an example.
 */
export const WORKFLOW_RUN_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: true,
  description:
    'ML-Agent’s JSON answer, passed through as it is (any JSON object, at most 1 MiB; the BFF neither renames nor drops fields). ' +
    'The properties below are what the sandbox ML-Agent answers; a real ML-Agent may answer other fields (e.g. run_id).',
  properties: {
    runId: { type: 'string', example: 'run-6f1c2b9e-3d4a-4e8b-9a1f-2c3d4e5f6a7b', description: 'Sandbox ML-Agent: the run’s id' },
    status: { type: 'string', example: 'COMPLETED', description: 'Sandbox ML-Agent: COMPLETED for profile and preview, SUBMITTED for any other workflow' },
    workflow: { type: 'string', example: 'profile' },
    table: { type: 'string', example: 'tpch.tiny.nation', description: 'catalog.schema.table' },
    submittedBy: {
      description: 'Sandbox ML-Agent: the submitter the BFF sent, a user’s email or a service account’s {type, clientId}',
      oneOf: [
        { type: 'string', example: 'alice@example.com' },
        {
          type: 'object',
          properties: { type: { type: 'string', enum: ['service_account'] }, clientId: { type: 'string', example: 'ci-pipeline' } },
          required: ['type', 'clientId'],
        },
      ],
    },
  },
  example: {
    runId: 'run-6f1c2b9e-3d4a-4e8b-9a1f-2c3d4e5f6a7b',
    status: 'COMPLETED',
    workflow: 'profile',
    table: 'tpch.tiny.nation',
    submittedBy: 'alice@example.com',
  },
};
