/**
 * The OTLP trace messages the MLflow proxy decodes, as protobufjs's JSON descriptor, built from the
 * OpenTelemetry protos vendored under proto/ (opentelemetry-proto v1.11.0, Apache-2.0). From the
 * repository's root:
 *
 *   bash scripts/node24.sh node scripts/otlp-descriptor.ts > src/mlflow/otlp-trace.descriptor.json
 *
 * src/mlflow/mlflow-otlp.spec.ts checks that the committed descriptor is what this builds.
 */
import { join } from 'node:path';
import { Root } from 'protobufjs';

export function otlpDescriptor(protoDir: string): string {
  const root = new Root();
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  root.resolveAll();
  return `${JSON.stringify(root.toJSON(), null, 2)}\n`;
}

if (/otlp-descriptor\.[jt]s$/.test(process.argv[1] ?? '')) process.stdout.write(otlpDescriptor(join(process.cwd(), 'proto')));
