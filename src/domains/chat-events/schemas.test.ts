import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { chatEventSchema } from './decode.ts';
import { ENTITIES } from './entities.ts';

test('docs/schemas/chat-events holds exactly the schemas the decoder uses (npm run schemas rewrites them)', () => {
  for (const entity of ENTITIES) {
    for (const mode of ['upsert', 'history'] as const) {
      if (mode === 'history' && entity === 'agents') continue;
      const name = mode === 'upsert' ? `v1.${entity}.upsert` : `v1.history.${entity}`;
      const file = JSON.parse(readFileSync(new URL(`../../../docs/schemas/chat-events/${name}.schema.json`, import.meta.url), 'utf8')) as unknown;
      assert.deepEqual(file, chatEventSchema(mode, entity), `${name}.schema.json is stale: run npm run schemas`);
    }
  }
});
