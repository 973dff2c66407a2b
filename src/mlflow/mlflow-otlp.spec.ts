import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { Root } from 'protobufjs';
import { otlpDescriptor } from '../../scripts/otlp-descriptor';
import { ProblemException } from '../common/problem';
import { decodeOtlpTraces, decompress, OTLP_MAX_BYTES } from './mlflow-otlp';

const PROTO = join(__dirname, '..', '..', 'proto');
const REQUEST = (() => {
  const root = new Root();
  root.resolvePath = (_origin, target) => join(PROTO, target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  return root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
})();

const A = 'aa'.repeat(16);
const B = 'bb'.repeat(16);
const span = (traceHex: string, spanHex: string, extra: Record<string, unknown> = {}) => ({
  traceId: Buffer.from(traceHex, 'hex'),
  spanId: Buffer.from(spanHex, 'hex'),
  name: 'predict',
  startTimeUnixNano: '1764763200123456789',
  endTimeUnixNano: '1764763200223456789',
  attributes: [{ key: 'mlflow.spanType', value: { stringValue: '"LLM"' } }],
  ...extra,
});
/** An export request as protobuf, encoded from the OpenTelemetry protos themselves (not from the descriptor under test). */
const encode = (spans: unknown[]) =>
  Buffer.from(REQUEST.encode(REQUEST.fromObject({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 's' }, spans }] }] })).finish());

function refusal(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    if (!(err instanceof ProblemException)) throw err;
    return `${err.getStatus()} ${err.detail}`;
  }
}

describe('OTLP trace exports, decoded before MLflow gets them', () => {
  it('the committed descriptor is what scripts/otlp-descriptor.ts builds from the vendored protos', () => {
    expect(JSON.parse(readFileSync(join(__dirname, 'otlp-trace.descriptor.json'), 'utf8'))).toEqual(JSON.parse(otlpDescriptor(PROTO)));
  });

  it('reads every span’s trace id (MLflow’s tr- id) and re-encodes the same request, 64-bit times intact', () => {
    const sent = encode([span(A, '01'.repeat(8)), span(A, '02'.repeat(8), { parentSpanId: Buffer.from('01'.repeat(8), 'hex') }), span(B, '03'.repeat(8))]);
    const decided = decodeOtlpTraces(sent, 'application/x-protobuf');
    expect({ traceIds: decided.traceIds, spans: decided.spans }).toEqual({ traceIds: [`tr-${A}`, `tr-${B}`], spans: 3 });
    expect(REQUEST.toObject(REQUEST.decode(decided.body), { longs: String, bytes: String })).toEqual(
      REQUEST.toObject(REQUEST.decode(sent), { longs: String, bytes: String }),
    );
    expect(REQUEST.toObject(REQUEST.decode(decided.body), { longs: String }).resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano).toBe('1764763200123456789');
  });

  it('a trace id given twice in one span is read as MLflow reads it (the last), and only that one is forwarded', () => {
    // Field 1 (trace_id, length-delimited) once more at the end of the span: protobuf keeps the last.
    const one = encode([span(A, '01'.repeat(8))]);
    const spanBytes = REQUEST.lookupType('opentelemetry.proto.trace.v1.Span');
    const twice = Buffer.concat([
      Buffer.from(spanBytes.encode(spanBytes.fromObject(span(A, '01'.repeat(8)))).finish()),
      Buffer.from([0x0a, 16]),
      Buffer.from(B, 'hex'),
    ]);
    const scope = Buffer.concat([Buffer.from([0x12, twice.length]), twice]);
    const resource = Buffer.concat([Buffer.from([0x12, scope.length]), scope]);
    const request = Buffer.concat([Buffer.from([0x0a, resource.length]), resource]);
    expect(decodeOtlpTraces(one, 'application/x-protobuf').traceIds).toEqual([`tr-${A}`]);
    const decided = decodeOtlpTraces(request, 'application/x-protobuf');
    expect(decided.traceIds).toEqual([`tr-${B}`]);
    expect(decided.body.includes(Buffer.from(A, 'hex'))).toBe(false);
  });

  it('OTLP JSON: hex ids read as bytes, forwarded as protobuf; an id under another spelling is not read, so the span is refused', () => {
    const json = (s: Record<string, unknown>) => Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [s] }] }] }));
    const decided = decodeOtlpTraces(json({ traceId: A, spanId: '01'.repeat(8), name: 'x', startTimeUnixNano: '1764763200123456789' }), 'application/json');
    expect(decided.traceIds).toEqual([`tr-${A}`]);
    expect(REQUEST.toObject(REQUEST.decode(decided.body), { longs: String }).resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano).toBe('1764763200123456789');
    expect(refusal(() => decodeOtlpTraces(json({ trace_id: A, spanId: '01'.repeat(8) }), 'application/json'))).toBe(
      '400 every span needs a 16-byte trace id and an 8-byte span id',
    );
    expect(refusal(() => decodeOtlpTraces(json({ traceId: 'zz', spanId: '01'.repeat(8) }), 'application/json'))).toBe('400 traceId must be hex');
    expect(refusal(() => decodeOtlpTraces(Buffer.from('{"resourceSpans":[],"resourceSpans":[]}'), 'application/json'))).toMatch(/^400 /);
  });

  it('refuses what is not an export request with spans, and ids of the wrong length', () => {
    expect(refusal(() => decodeOtlpTraces(Buffer.from([0x0a, 0x05, 0x01]), 'application/x-protobuf'))).toBe('400 the body is not an OTLP ExportTraceServiceRequest');
    expect(refusal(() => decodeOtlpTraces(encode([]), 'application/x-protobuf'))).toBe('400 the OTLP request holds no spans');
    expect(refusal(() => decodeOtlpTraces(encode([span('aa'.repeat(15), '01'.repeat(8))]), 'application/x-protobuf'))).toBe(
      '400 every span needs a 16-byte trace id and an 8-byte span id',
    );
  });

  it('decompresses gzip, zlib and raw deflate; refuses other encodings, broken streams, and bodies past the bound once decompressed', () => {
    const body = encode([span(A, '01'.repeat(8))]);
    expect([decompress(gzipSync(body), 'gzip'), decompress(deflateSync(body), 'deflate'), decompress(deflateRawSync(body), 'deflate')]).toEqual([body, body, body]);
    expect(refusal(() => decompress(body, 'br'))).toBe('400 OTLP traces are sent uncompressed, gzip or deflate');
    expect(refusal(() => decompress(Buffer.from('not gzip'), 'gzip'))).toBe('400 the gzip body could not be decompressed');
    const bomb = gzipSync(Buffer.alloc(OTLP_MAX_BYTES + 1));
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(refusal(() => decompress(bomb, 'gzip'))).toBe(`413 OTLP bodies are limited to ${OTLP_MAX_BYTES} bytes once decompressed`);
    expect(refusal(() => decompress(deflateSync(Buffer.alloc(OTLP_MAX_BYTES + 1)), 'deflate'))).toMatch(/^413 /);
  });
});
