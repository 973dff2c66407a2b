import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '../..');
const schemaKeys = [...readFileSync(join(root, 'src/config/env.schema.ts'), 'utf8').matchAll(/^\s+([A-Z][A-Z0-9_]+)\?: /gm)].map((m) => m[1]);

describe('every configuration key is documented', () => {
  it('the schema has keys', () => expect(schemaKeys.length).toBeGreaterThan(30));

  it.each(schemaKeys)('%s is in .env.example and the README', (key) => {
    const example = readFileSync(join(root, '.env.example'), 'utf8');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(example).toMatch(new RegExp(`^#? ?${key}=`, 'm'));
    expect(readme).toContain(`\`${key}\``);
  });
});
