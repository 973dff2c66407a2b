import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { isTrinoIdentifier } from '../trino-identifier';
import { RunWorkflowRequestDto } from './run-workflow.dto';
import { CatalogPathDto, SchemaPathDto } from './trino-path.dto';

/** Validates as the app's global ValidationPipe does (whitelist, forbidNonWhitelisted). */
async function errorsOf<T extends object>(cls: new () => T, plain: unknown): Promise<Record<string, string[]>> {
  const errors = await validate(plainToInstance(cls, plain) as object, { whitelist: true, forbidNonWhitelisted: true });
  return Object.fromEntries(errors.map((e) => [e.property, Object.values(e.constraints ?? {})]));
}

describe('Trino identifiers', () => {
  it.each(['tpch', 'tiny', 'sf1', '_hidden', 'Sales_2024', 'a', `a${'b'.repeat(127)}`])('accepts %j', (name) => {
    expect(isTrinoIdentifier(name)).toBe(true);
  });

  it.each([
    '',
    '1abc',
    'tp-ch',
    'tpch.tiny',
    '"tpch"',
    "ti'ny",
    'tpch;DROP',
    'tp ch',
    'tpçh',
    'a/b',
    '..',
    'tiny--',
    'tp\u0000ch',
    'tpch\n',
    `a${'b'.repeat(128)}`,
    'sales%2Fx',
    '*',
  ])('refuses %j', (name) => {
    expect(isTrinoIdentifier(name)).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const v of [undefined, null, 42, ['tpch'], { tpch: 1 }]) expect(isTrinoIdentifier(v)).toBe(false);
  });

  it('path DTOs name the parameter that is wrong', async () => {
    expect(await errorsOf(CatalogPathDto, { catalog: 'tpch' })).toEqual({});
    expect(Object.keys(await errorsOf(SchemaPathDto, { catalog: 'tpch', schema: 'ti-ny' }))).toEqual(['schema']);
    expect((await errorsOf(CatalogPathDto, { catalog: 'x"y' })).catalog).toEqual([expect.stringContaining('catalog must be a plain Trino identifier')]);
  });
});

describe('RunWorkflowRequestDto', () => {
  const valid = { catalog: 'tpch', schema: 'tiny', table: 'nation', workflow: 'profile' };

  it('accepts the four fields, with or without a parameters object', async () => {
    expect(await errorsOf(RunWorkflowRequestDto, valid)).toEqual({});
    expect(await errorsOf(RunWorkflowRequestDto, { ...valid, parameters: { sampleRows: 5, nested: { a: [1] } } })).toEqual({});
  });

  it('accepts a client email (for compatibility) without validating it: the service never reads it', async () => {
    expect(await errorsOf(RunWorkflowRequestDto, { ...valid, email: 'not even an email' })).toEqual({});
  });

  it('refuses parameters that are not an object, or that name the submitter', async () => {
    expect(Object.keys(await errorsOf(RunWorkflowRequestDto, { ...valid, parameters: [1] }))).toEqual(['parameters']);
    expect(Object.keys(await errorsOf(RunWorkflowRequestDto, { ...valid, parameters: 'x' }))).toEqual(['parameters']);
    for (const key of ['email', 'EMAIL', 'submittedBy', 'submitted_by']) {
      expect([key, Object.keys(await errorsOf(RunWorkflowRequestDto, { ...valid, parameters: { [key]: 'mallory@evil.example' } }))]).toEqual([key, ['parameters']]);
    }
    expect(await errorsOf(RunWorkflowRequestDto, { ...valid, parameters: { emailColumn: 'contact' } })).toEqual({});
  });

  it.each([
    ['nested one level', { options: { email: 'mallory@evil.example' } }, 'parameters.options.email'],
    ['nested deep', { a: { b: { c: { submittedBy: 'mallory' } } } }, 'parameters.a.b.c.submittedBy'],
    ['in an array', { runs: [{ sampleRows: 1 }, { user: 'admin' }] }, 'parameters.runs[1].user'],
    ['in nested arrays', { grid: [[{ Username: 'admin' }]] }, 'parameters.grid[0][0].Username'],
    ['a user at the top level', { USER: 'admin' }, 'parameters.USER'],
    ['user_id', { meta: { user_id: 'u-1' } }, 'parameters.meta.user_id'],
  ])('refuses identity-looking keys at any depth (%s), naming the path', async (_what, parameters, path) => {
    const errors = await errorsOf(RunWorkflowRequestDto, { ...valid, parameters });
    expect(Object.keys(errors)).toEqual(['parameters']);
    expect(errors.parameters.join(' ')).toContain(path);
  });

  it('accepts parameters whose keys only contain such words, and identity-looking values', async () => {
    const parameters = { emailColumn: 'contact', users_table: 'u', nested: [{ userCount: 3, note: 'email me' }], deep: { a: { b: 'user' } } };
    expect(await errorsOf(RunWorkflowRequestDto, { ...valid, parameters })).toEqual({});
  });

  it('walks nested parameters with an explicit stack, not recursion (1,000 levels deep)', async () => {
    let deep: Record<string, unknown> = { email: 'x' };
    for (let i = 0; i < 1_000; i++) deep = { n: deep };
    expect(Object.keys(await errorsOf(RunWorkflowRequestDto, { ...valid, parameters: deep }))).toEqual(['parameters']);
  });

  it('refuses bad identifiers and workflow names, every one at once', async () => {
    const errors = await errorsOf(RunWorkflowRequestDto, { catalog: 'a.b', schema: 3, workflow: '../x', user: 'admin' });
    expect(Object.keys(errors).sort()).toEqual(['catalog', 'schema', 'table', 'user', 'workflow']);
  });
});
