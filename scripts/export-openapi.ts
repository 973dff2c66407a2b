import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateOpenApiJson } from './openapi-spec';

/** `npm run openapi`: writes openapi/openapi.json from the code. */
generateOpenApiJson()
  .then((json) => {
    const dir = join(process.cwd(), 'openapi');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'openapi.json'), json);
    process.stdout.write(`wrote openapi/openapi.json (${json.length} bytes)\n`);
    process.exit(0);
  })
  .catch((err: unknown) => {
    process.stderr.write(`openapi export failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
