/**
 * The coordinator's JSON views of a query, in Trino's shapes: QueryResults (the client protocol's pages, with their
 * stats) and QueryInfo / BasicQueryInfo (GET /v1/query, /v1/query/{id}).
 */
import { ERROR_CODES, errorType, toQueryError } from './errors';
import { EXECUTING_QUERY, formatDuration, makeSlug, QUEUED_QUERY, type Page, type QueryRecord, type QueryState } from './query-record';

export function stats(q: QueryRecord, state: QueryState, queued: boolean, pageRows: number): Record<string, unknown> {
  const now = Date.now();
  const end = q.endTime ?? now;
  const elapsed = end - q.createTime;
  const queuedTime = (q.dispatchTime ?? end) - q.createTime;
  const scheduled = !queued && q.dispatchTime !== undefined && q.outcome?.kind === 'rows';
  const total = q.outcome?.kind === 'rows' ? q.outcome.total : 0;
  const done = state === 'FINISHED' || state === 'FAILED';
  const wall = Math.max(0, end - (q.dispatchTime ?? end));
  const processedBytes = q.processedRows * 16;
  const stats: Record<string, unknown> = {
    state,
    queued,
    scheduled,
  };
  if (scheduled) {
    const pct = total === 0 ? 100 : Math.min(100, (q.processedRows * 100) / total);
    stats.progressPercentage = done ? 100 : pct;
    stats.runningPercentage = done ? 0 : 100 - pct;
  }
  Object.assign(stats, {
    nodes: scheduled ? 1 : 0,
    totalSplits: scheduled ? 1 : 0,
    queuedSplits: 0,
    runningSplits: scheduled && !done ? 1 : 0,
    completedSplits: scheduled && done ? 1 : 0,
    cpuTimeMillis: Math.floor(wall / 4),
    wallTimeMillis: wall,
    queuedTimeMillis: queuedTime,
    elapsedTimeMillis: elapsed,
    processedRows: q.processedRows,
    processedBytes,
    physicalInputBytes: processedBytes,
    physicalWrittenBytes: 0,
    peakMemoryBytes: scheduled ? Math.min(processedBytes, pageRows * 64) : 0,
    spilledBytes: 0,
  });
  if (scheduled) {
    stats.rootStage = {
      stageId: '0',
      state: done ? (state === 'FAILED' ? 'FAILED' : 'FINISHED') : 'RUNNING',
      done,
      nodes: 1,
      totalSplits: 1,
      queuedSplits: 0,
      runningSplits: done ? 0 : 1,
      completedSplits: done ? 1 : 0,
      cpuTimeMillis: Math.floor(wall / 4),
      wallTimeMillis: wall,
      processedRows: q.processedRows,
      processedBytes,
      physicalInputBytes: processedBytes,
      failedTasks: 0,
      coordinatorOnly: false,
      subStages: [],
    };
  }
  return stats;
}

export function queuedResults(q: QueryRecord, base: string, nextToken: number, pageRows: number): Record<string, unknown> {
  const out: Record<string, unknown> = { id: q.id, infoUri: `${base}/ui/query.html?${q.id}` };
  if (q.failure) {
    out.stats = stats(q, 'FAILED', false, pageRows);
    out.error = toQueryError(q.failure);
  } else {
    out.nextUri =
      q.dispatchTime !== undefined
        ? `${base}/v1/statement/executing/${q.id}/${makeSlug(q.slugKey, EXECUTING_QUERY, 0)}/0`
        : `${base}/v1/statement/queued/${q.id}/${makeSlug(q.slugKey, QUEUED_QUERY, nextToken)}/${nextToken}`;
    out.stats = stats(q, 'QUEUED', true, pageRows);
  }
  out.warnings = [];
  return out;
}

export function pageResults(q: QueryRecord, base: string, page: Page, pageRows: number): Record<string, unknown> {
  const out: Record<string, unknown> = { id: q.id, infoUri: `${base}/ui/query.html?${q.id}` };
  if (page.nextToken !== null) {
    const slug = makeSlug(q.slugKey, EXECUTING_QUERY, page.nextToken);
    if (page.partialCancel) out.partialCancelUri = `${base}/v1/statement/executing/partialCancel/${q.id}/0/${slug}/${page.nextToken}`;
    out.nextUri = `${base}/v1/statement/executing/${q.id}/${slug}/${page.nextToken}`;
  }
  if (page.columns) out.columns = page.columns;
  if (page.data && page.data.length > 0) out.data = page.data;
  out.stats = stats(q, page.state, false, pageRows);
  if (page.failure) out.error = toQueryError(page.failure);
  out.warnings = [];
  if (page.updateType) out.updateType = page.updateType;
  return out;
}

export function queryStatsJson(q: QueryRecord): Record<string, unknown> {
  const now = Date.now();
  const end = q.endTime ?? now;
  return {
    createTime: new Date(q.createTime).toISOString(),
    executionStartTime: q.dispatchTime !== undefined ? new Date(q.dispatchTime).toISOString() : undefined,
    lastHeartbeat: new Date(q.lastHeartbeat).toISOString(),
    endTime: q.endTime !== undefined ? new Date(q.endTime).toISOString() : undefined,
    elapsedTime: formatDuration(end - q.createTime),
    queuedTime: formatDuration((q.dispatchTime ?? end) - q.createTime),
    executionTime: formatDuration(q.dispatchTime !== undefined ? end - q.dispatchTime : 0),
    totalCpuTime: formatDuration(q.dispatchTime !== undefined ? (end - q.dispatchTime) / 4 : 0),
    processedInputPositions: q.processedRows,
    processedInputDataSize: `${q.processedRows * 16}B`,
    outputPositions: q.processedRows,
    outputDataSize: `${q.processedRows * 16}B`,
    progressPercentage: q.state === 'FINISHED' ? 100 : undefined,
  };
}

export function sessionJson(q: QueryRecord): Record<string, unknown> {
  const s = q.session;
  return {
    queryId: q.id,
    transactionId: s.transactionId,
    clientTransactionSupport: s.clientTransactionSupport,
    user: s.user,
    originalUser: s.originalUser ?? s.user,
    principal: s.principal,
    groups: [],
    enabledRoles: [],
    source: s.source,
    catalog: s.catalog,
    schema: s.schema,
    path: s.path ?? '',
    timeZone: s.timeZone ?? 'UTC',
    locale: s.language ?? 'en_US',
    remoteUserAddress: s.remoteUserAddress,
    userAgent: s.userAgent,
    clientInfo: s.clientInfo,
    clientTags: s.clientTags,
    clientCapabilities: s.clientCapabilities,
    resourceEstimates: s.resourceEstimates,
    start: new Date(q.createTime).toISOString(),
    systemProperties: s.systemProperties,
    catalogProperties: s.catalogProperties,
    preparedStatements: s.preparedStatements,
    protocolName: 'trino',
    traceToken: s.traceToken,
  };
}

export function basicQueryInfo(q: QueryRecord, base: string): Record<string, unknown> {
  return {
    queryId: q.id,
    sessionUser: q.session.user,
    sessionPrincipal: q.session.principal,
    sessionSource: q.session.source,
    resourceGroupId: ['global'],
    state: q.state,
    scheduled: q.dispatchTime !== undefined,
    self: `${base}/v1/query/${q.id}`,
    query: q.sql,
    queryStats: queryStatsJson(q),
    errorType: q.failure ? errorType(q.failure.name) : undefined,
    errorCode: q.failure ? { code: ERROR_CODES[q.failure.name], name: q.failure.name, type: errorType(q.failure.name) } : undefined,
    queryType: q.queryType,
  };
}

export function queryInfo(q: QueryRecord, base: string): Record<string, unknown> {
  const e = q.effects ?? {};
  const done = q.state === 'FINISHED' || q.state === 'FAILED';
  return {
    queryId: q.id,
    session: sessionJson(q),
    state: q.state,
    self: `${base}/v1/query/${q.id}`,
    fieldNames: q.outcome?.kind === 'rows' ? q.outcome.source.columns.map((c) => c.name) : [],
    query: q.sql,
    queryStats: queryStatsJson(q),
    outputStage: q.outcome?.kind === 'rows' ? stageInfo(q, base) : undefined,
    setCatalog: e.setCatalog,
    setSchema: e.setSchema,
    setSessionProperties: e.setSession ? { [e.setSession[0]]: e.setSession[1] } : {},
    resetSessionProperties: e.clearSession ? [e.clearSession] : [],
    setRoles: {},
    addedPreparedStatements: e.addedPrepare ? { [e.addedPrepare[0]]: e.addedPrepare[1] } : {},
    deallocatedPreparedStatements: e.deallocatedPrepare ? [e.deallocatedPrepare] : [],
    startedTransactionId: e.startedTransactionId,
    clearTransactionId: e.clearTransactionId ?? false,
    updateType: q.updateType,
    failureInfo: q.failure ? { type: q.failure.type, message: q.failure.message, suppressed: [], stack: [], errorLocation: q.failure.location } : undefined,
    errorType: q.failure ? errorType(q.failure.name) : undefined,
    errorCode: q.failure ? { code: ERROR_CODES[q.failure.name], name: q.failure.name, type: errorType(q.failure.name) } : undefined,
    warnings: [],
    inputs: [],
    referencedTables: [],
    routines: [],
    resourceGroupId: ['global'],
    queryType: q.queryType,
    retryPolicy: 'NONE',
    finalQueryInfo: done,
    pruned: false,
  };
}

/**
 * The query's one stage and its one task, run by this coordinator: as in Trino's QueryInfo, the task names
 * the node that runs it by that node's own URI (a coordinator's answer names its cluster's nodes).
 */
function stageInfo(q: QueryRecord, base: string): Record<string, unknown> {
  const stageId = `${q.id}.0`;
  const state = q.state === 'QUEUED' ? 'PLANNED' : q.state;
  return {
    stageId,
    state,
    tasks: [{ taskStatus: { taskId: `${stageId}.0.0`, state, self: `${base}/v1/task/${stageId}.0.0`, nodeId: 'sandbox-coordinator' } }],
    subStages: [],
  };
}
