/** Writes docs/schemas/chat-events/*.schema.json from the schemas the decoder uses (npm run schemas). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { chatEventSchema } from '../src/domains/chat-events/decode.ts';
import { ENTITIES } from '../src/domains/chat-events/entities.ts';

const dir = new URL('../docs/schemas/chat-events/', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const entity of ENTITIES) {
  for (const mode of ['upsert', 'history'] as const) {
    if (mode === 'history' && entity === 'agents') continue; // no history.agents subject in the reference
    const name = mode === 'upsert' ? `v1.${entity}.upsert` : `v1.history.${entity}`;
    writeFileSync(new URL(`${name}.schema.json`, dir), `${JSON.stringify(chatEventSchema(mode, entity), null, 2)}\n`);
  }
}
