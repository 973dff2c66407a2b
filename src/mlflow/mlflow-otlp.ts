import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { Root, type Message, type Type } from 'protobufjs/light';
import { problem, ProblemException } from '../common/problem';
import { parseStrictJson } from './strict-json';
import descriptor from './otlp-trace.descriptor.json';

/**
 * OTLP/HTTP trace exports (`POST /v1/traces`), read before anything reaches MLflow: the body is
 * decompressed (gzip or deflate, as the OpenTelemetry Collector sends it; bounded after
 * decompression), decoded as an ExportTraceServiceRequest (protobuf, or OTLP's JSON with hex ids —
 * MLflow 3.17.2 takes both), and every span's trace id is read. MLflow gets the request re-encoded
 * from what was decoded, as protobuf and uncompressed: the bytes the decision was made on, not the
 * client's. The OTLP messages come from the OpenTelemetry protos (proto/, as protobufjs's JSON
 * descriptor: scripts/otlp-descriptor.ts).
 */

/** The largest OTLP body the BFF reads, compressed or not (the Collector's default batches are far smaller). */
export const OTLP_MAX_BYTES = 16 * 1024 * 1024;

const REQUEST: Type = Root.fromJSON(descriptor).lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

export type OtlpMedia = 'application/x-protobuf' | 'application/json';

export interface DecidedOtlp {
  /** The request as MLflow gets it: protobuf, re-encoded from what was decoded. */
  body: Buffer;
  /** The MLflow trace id of every span (`tr-` and the OTLP trace id in hex), each once. */
  traceIds: string[];
  spans: number;
}

interface Span {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
}
interface ExportRequest {
  resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: Span[] }> }>;
}

/** The body as sent, decompressed as its Content-Encoding says, never past OTLP_MAX_BYTES. */
export function decompress(raw: Buffer, encoding: string | undefined): Buffer {
  const bounded = { maxOutputLength: OTLP_MAX_BYTES };
  try {
    switch (encoding) {
      case undefined:
      case 'identity':
        return raw;
      case 'gzip':
        return gunzipSync(raw, bounded);
      case 'deflate':
        // RFC 1950 (zlib) as the standard says, raw deflate as some clients send it (MLflow takes both).
        try {
          return inflateSync(raw, bounded);
        } catch (err) {
          if (tooLarge(err)) throw err;
          return inflateRawSync(raw, bounded);
        }
      default:
        throw problem.badRequest('OTLP traces are sent uncompressed, gzip or deflate');
    }
  } catch (err) {
    if (err instanceof ProblemException) throw err;
    if (tooLarge(err)) throw new ProblemException(413, 'payload_too_large', `OTLP bodies are limited to ${OTLP_MAX_BYTES} bytes once decompressed`);
    throw problem.badRequest(`the ${encoding} body could not be decompressed`);
  }
}

function tooLarge(err: unknown): boolean {
  return err instanceof RangeError || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
}

/** Decodes an export request (decompressed), reads its trace ids, and re-encodes it for MLflow. */
export function decodeOtlpTraces(bytes: Buffer, media: OtlpMedia): DecidedOtlp {
  let message: Message;
  try {
    message = media === 'application/json' ? REQUEST.fromObject(hexIdsToBytes(parseStrictJson(bytes.toString('utf8')))) : REQUEST.decode(bytes);
  } catch (err) {
    if (err instanceof ProblemException) throw err;
    throw problem.badRequest('the body is not an OTLP ExportTraceServiceRequest');
  }
  const traceIds = new Set<string>();
  let spans = 0;
  for (const resource of (message as ExportRequest).resourceSpans ?? []) {
    for (const scope of resource.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        if (span.traceId?.length !== 16 || span.spanId?.length !== 8) throw problem.badRequest('every span needs a 16-byte trace id and an 8-byte span id');
        traceIds.add(`tr-${Buffer.from(span.traceId).toString('hex')}`);
        spans++;
      }
    }
  }
  if (spans === 0) throw problem.badRequest('the OTLP request holds no spans');
  return { body: Buffer.from(REQUEST.encode(message).finish()), traceIds: [...traceIds], spans };
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * OTLP's JSON encoding writes trace and span ids in hex where protobuf's JSON mapping (protobufjs's
 * fromObject) takes base64: the ids of spans and of their links, as byte arrays. Field names are
 * OTLP JSON's lowerCamelCase; any other spelling is not read, so not forwarded either.
 */
function hexIdsToBytes(json: unknown): Record<string, unknown> {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw problem.badRequest('the body must be a JSON object');
  const ids = (o: Record<string, unknown>, fields: string[]) => {
    for (const f of fields) {
      const v = o[f];
      if (v === undefined) continue;
      if (typeof v !== 'string' || !HEX.test(v)) throw problem.badRequest(`${f} must be hex`);
      o[f] = Buffer.from(v, 'hex');
    }
  };
  const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object') : []);
  for (const resource of list((json as Record<string, unknown>).resourceSpans)) {
    for (const scope of list(resource.scopeSpans)) {
      for (const span of list(scope.spans)) {
        ids(span, ['traceId', 'spanId', 'parentSpanId']);
        for (const link of list(span.links)) ids(link, ['traceId', 'spanId']);
      }
    }
  }
  return json as Record<string, unknown>;
}
