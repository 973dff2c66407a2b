import { ProblemException } from '../common/problem';
import { decideMessage, decideQuery, field, jsonName, toQuery } from './mlflow-fields';
import { MAX_JSON_DEPTH } from '../common/json-depth';
import { parseStrictJson } from './strict-json';

const { string, int, double, enumOf, message, list } = field;
const FIELDS = {
  experiment_id: string,
  new_name: string,
  max_results: int,
  value: double,
  view_type: enumOf('ACTIVE_ONLY', 'ALL'),
  order_by: list(string),
  tags: list(message({ key: string, value: string })),
};

/** The 400 a refusal answers: its status, reason and the field it names. */
function refusal(work: () => unknown): [number, string, string | undefined] | 'accepted' {
  try {
    work();
    return 'accepted';
  } catch (err) {
    if (!(err instanceof ProblemException)) throw err;
    return [err.getStatus(), err.reason, err.errors?.[0]?.field];
  }
}

describe('reading an MLflow request into its fields', () => {
  it('names fields by their proto or JSON name, and rebuilds in proto names only', () => {
    expect(['experiment_id', 'run_uuid', 'model_json', 'key'].map(jsonName)).toEqual(['experimentId', 'runUuid', 'modelJson', 'key']);
    expect(decideMessage({ experimentId: '1', newName: 'n', tags: [{ key: 'k', value: 'v' }], value: 'NaN', view_type: 2 }, FIELDS, 'proto')).toEqual({
      experiment_id: '1',
      new_name: 'n',
      tags: [{ key: 'k', value: 'v' }],
      value: 'NaN',
      view_type: 2,
    });
    expect(decideMessage({ experiment_id: null, new_name: 'n' }, FIELDS, 'proto')).toEqual({ new_name: 'n' });
    // MLflow reads a query's boolean without case (Python's requests sends True / False); rebuilt as true / false.
    const flags = { allow_partial: field.bool };
    expect(['True', 'FALSE', 'true'].map((v) => decideQuery(`allow_partial=${v}`, flags, 'proto'))).toEqual([
      { allow_partial: 'true' },
      { allow_partial: 'false' },
      { allow_partial: 'true' },
    ]);
    expect(refusal(() => decideQuery('allow_partial=yes', flags, 'proto'))).toEqual([400, 'validation_failed', 'allow_partial']);
    const q = decideQuery('experimentId=1&order_by=a&order_by=b&max_results=5', FIELDS, 'proto');
    expect(q).toEqual({ experiment_id: '1', order_by: ['a', 'b'], max_results: '5' });
    expect(toQuery(q)).toBe('experiment_id=1&order_by=a&order_by=b&max_results=5');
  });

  it('refuses both spellings, repeated single fields, unknown fields and wrong types — naming the field', () => {
    expect(refusal(() => decideMessage({ experiment_id: '1', experimentId: '2' }, FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'experiment_id']);
    expect(refusal(() => decideMessage({ experimentId: '1' }, FIELDS, 'args'))).toEqual([400, 'validation_failed', 'experimentId']);
    expect(refusal(() => decideMessage({ experiment: '1' }, FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'experiment']);
    expect(refusal(() => decideMessage({ tags: [{ key: 'k', run_id: 'r' }] }, FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'tags[0].run_id']);
    expect(refusal(() => decideMessage({ tags: { key: 'k' } }, FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'tags']);
    expect(refusal(() => decideMessage({ experiment_id: 1 }, FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'experiment_id']);
    expect(refusal(() => decideMessage({ max_results: 1.5 }, FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'max_results']);
    expect(refusal(() => decideMessage({ value: 'x' }, FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'value']);
    expect(refusal(() => decideMessage({ view_type: 'SOME' }, FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'view_type']);
    expect(refusal(() => decideMessage(JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>, FIELDS, 'proto'))).toEqual([
      400,
      'validation_failed',
      '__proto__',
    ]);
    expect(refusal(() => decideQuery('experiment_id=1&experimentId=2', FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'experiment_id']);
    expect(refusal(() => decideQuery('experiment_id=1&experiment_id=1', FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'experiment_id']);
    expect(refusal(() => decideQuery('order_by=a&orderBy=b', FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'order_by']);
    expect(refusal(() => decideQuery('max_results=ten', FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'max_results']);
    expect(refusal(() => decideQuery('tags=x', FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'tags']);
    expect(refusal(() => decideQuery('run_id=x', FIELDS, 'proto'))).toEqual([400, 'validation_failed', 'run_id']);
  });
});

describe('strict JSON', () => {
  it('parses what JSON.parse parses', () => {
    expect(parseStrictJson('{"a":[1,{"b":"c"}],"d":null}')).toEqual({ a: [1, { b: 'c' }], d: null });
    // The same key in two different objects is no duplicate.
    expect(parseStrictJson('[{"a":1},{"a":2}]')).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it('refuses duplicate keys (escapes decoded), deep nesting, comments and trailing commas with a 400', () => {
    for (const text of [
      '{"a":1,"a":2}',
      '{"x":{"k":1,"k":1}}',
      '{"a_b":1,"a\\u005fb":2}',
      '{"a":1,}',
      '{"a":1 /* c */}',
      '{"a":1} // c',
      '{"a":',
      `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`,
    ]) {
      expect([text.slice(0, 30), refusal(() => parseStrictJson(text))]).toEqual([text.slice(0, 30), [400, 'validation_failed', undefined]]);
    }
    expect(refusal(() => parseStrictJson(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`))).toBe('accepted');
  });

  it('refuses a body nested 200,000 deep with a 400, not a stack overflow (it stops at the limit)', () => {
    const deep = `${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`;
    expect(refusal(() => parseStrictJson(deep))).toEqual([400, 'validation_failed', undefined]);
  });
});
