import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Allow, IsObject, IsOptional, IsString, Matches, ValidateBy, ValidationOptions } from 'class-validator';
import { IsTrinoIdentifier, TRINO_IDENTIFIER, TRINO_IDENTIFIER_RULE } from '../trino-identifier';

/** A workflow name: what ML-Agent dispatches on (e.g. profile, preview, train_classifier). */
export const WORKFLOW_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * Parameter names that would name the submitter: refused, so nothing a client writes can stand in
 * for the identity the BFF takes from the verified token.
 */
export const IDENTITY_PARAMETER_NAMES: ReadonlySet<string> = new Set(['email', 'submittedby', 'submitted_by']);

function HasNoIdentityParameters(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'hasNoIdentityParameters',
      validator: {
        validate: (value: unknown) => value === null || typeof value !== 'object' || Object.keys(value).every((k) => !IDENTITY_PARAMETER_NAMES.has(k.toLowerCase())),
        defaultMessage: () => 'parameters must not name the submitter (email, submittedBy): it is taken from the token',
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
    description: 'Workflow parameters (a JSON object, passed to ML-Agent as it is); must not name the submitter (email, submittedBy)',
  })
  @IsOptional()
  @IsObject({ message: 'parameters must be a JSON object' })
  @HasNoIdentityParameters()
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({
    type: String,
    deprecated: true,
    example: 'someone@example.com',
    description: 'Ignored and never forwarded: ML-Agent gets the email of the verified token',
  })
  @Allow()
  email?: unknown;
}

/** A workflow run as ML-Agent accepted it. */
export class WorkflowRunDto {
  @ApiProperty({ example: 'run-6f1c2b9e-3d4a-4e8b-9a1f-2c3d4e5f6a7b' })
  runId!: string;

  @ApiProperty({ example: 'COMPLETED', description: 'ML-Agent’s status of the run, e.g. SUBMITTED (runs asynchronously) or COMPLETED' })
  status!: string;

  @ApiPropertyOptional({ example: 'profile' })
  workflow?: string;

  @ApiPropertyOptional({ example: 'tpch.tiny.nation', description: 'catalog.schema.table' })
  table?: string;

  @ApiPropertyOptional({ example: 'alice@example.com', description: 'Who submitted it: the email of the caller’s verified token' })
  submittedBy?: string;
}
