import { scrubQueryInfo } from './query-info';

const BFF = 'https://bff.example.com';

/** A QueryInfo as a two-node Trino 476 answers it (cut down to the fields that name nodes). */
const info = {
  queryId: '20261203_153807_00030_vyk5a',
  self: 'http://trino-coordinator:8080/v1/query/20261203_153807_00030_vyk5a',
  session: { user: 'alice', systemProperties: { query_max_run_time: '2h' } },
  query: 'SELECT count(*) FROM tpch.tiny.nation',
  fieldNames: ['self'],
  outputStage: {
    stageId: '20261203_153807_00030_vyk5a.0',
    self: 'http://trino-coordinator:8080/v1/stage/20261203_153807_00030_vyk5a.0',
    tasks: [
      {
        taskStatus: { taskId: '20261203_153807_00030_vyk5a.1.0.0', self: 'http://10.0.3.7:8080/v1/task/20261203_153807_00030_vyk5a.1.0.0', nodeId: 'worker-3' },
        stats: { pipelines: [{ operatorSummaries: [{ info: { pageBufferClientStatuses: [{ uri: 'http://10.0.3.8:8080/v1/task/x/results/0' }] } }] }] },
      },
    ],
    subStages: [],
  },
  failureInfo: {
    type: 'io.trino.spi.TrinoTransportException',
    message: 'Encountered too many errors',
    remoteHost: '10.0.3.7:8080',
    cause: { remoteHost: '10.0.3.8:8080' },
  },
  totalBytes: 9007199254740991,
};

describe('scrubQueryInfo', () => {
  const scrubbed = scrubQueryInfo(JSON.stringify(info), BFF);
  const out = JSON.parse(scrubbed);

  it('re-bases the query’s own URI onto the BFF', () => {
    expect(out.self).toBe(`${BFF}/v1/query/20261203_153807_00030_vyk5a`);
  });

  it('names no node of the cluster at any depth: stage, task and exchange URIs re-based, remote hosts gone', () => {
    for (const host of ['trino-coordinator', '10.0.3.7', '10.0.3.8']) expect(scrubbed).not.toContain(host);
    expect(out.outputStage.self).toBe(`${BFF}/v1/stage/20261203_153807_00030_vyk5a.0`);
    expect(out.outputStage.tasks[0].taskStatus.self).toBe(`${BFF}/v1/task/20261203_153807_00030_vyk5a.1.0.0`);
    expect(out.failureInfo.remoteHost).toBeNull();
    expect(out.failureInfo.cause.remoteHost).toBeNull();
  });

  it('keeps everything else as Trino wrote it', () => {
    expect(out.session).toEqual(info.session);
    expect(out.query).toBe(info.query);
    expect(out.outputStage.tasks[0].taskStatus.nodeId).toBe('worker-3');
    expect(out.failureInfo.message).toBe('Encountered too many errors');
    expect(out.totalBytes).toBe(9007199254740991);
    expect(out.fieldNames[0]).toBe('self');
  });

  it('throws on a body that is not JSON (the caller answers 502)', () => {
    expect(() => scrubQueryInfo('<html>', BFF)).toThrow(SyntaxError);
  });
});
