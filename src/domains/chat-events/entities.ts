/**
 * The four chat entities: their key, their columns (named as the `data` fields) with SQL
 * types, and the JSON Schema of one item. The schemas require the id and `updated_at`;
 * every other field is optional and may be null (an explicit null clears the column).
 */
export const ENTITIES = ['chats', 'messages', 'contacts', 'agents'] as const;
export type Entity = (typeof ENTITIES)[number];

export type ColumnType = 'text' | 'boolean' | 'integer' | 'timestamptz';

export interface EntityDef {
  readonly key: string;
  /** Columns besides the key, `updated_at`, `last_event_id` and `payload`. */
  readonly columns: Readonly<Record<string, ColumnType>>;
  readonly enums?: Readonly<Record<string, ReadonlyArray<string>>>;
}

export const MESSAGE_STATUSES = ['pending', 'sent', 'delivered', 'read', 'failed'] as const;

export const ENTITY_DEFS: Readonly<Record<Entity, EntityDef>> = {
  chats: { key: 'chat_id', columns: { name: 'text', is_group: 'boolean', unread_count: 'integer', archived: 'boolean', last_message_at: 'timestamptz' } },
  messages: {
    key: 'message_id',
    columns: { chat_id: 'text', from_me: 'boolean', sender: 'text', type: 'text', body: 'text', status: 'text', sent_at: 'timestamptz' },
    enums: { status: MESSAGE_STATUSES },
  },
  contacts: { key: 'contact_id', columns: { phone: 'text', name: 'text', push_name: 'text', is_business: 'boolean' } },
  agents: { key: 'agent_id', columns: { name: 'text', email: 'text', status: 'text' }, enums: { status: ['online', 'away', 'offline'] } },
};

const JSON_TYPE: Record<ColumnType, object> = {
  text: { type: ['string', 'null'], maxLength: 65536 },
  boolean: { type: ['boolean', 'null'] },
  integer: { type: ['integer', 'null'], minimum: -2147483648, maximum: 2147483647 },
  timestamptz: { type: ['string', 'null'] },
};

/** JSON Schema of one item of `entity` (timestamps are checked as RFC 3339 after it). */
export function itemSchema(entity: Entity): object {
  const def = ENTITY_DEFS[entity];
  const properties: Record<string, object> = {
    [def.key]: { type: 'string', minLength: 1, maxLength: 512, pattern: '^[^\\u0000]+$' },
    updated_at: { type: 'string' },
  };
  for (const [col, t] of Object.entries(def.columns)) {
    const e = def.enums?.[col];
    properties[col] = e === undefined ? JSON_TYPE[t] : { enum: [...e, null] };
  }
  return { type: 'object', required: [def.key, 'updated_at'], properties };
}

/** The timestamp fields of an entity (validated as RFC 3339 instants). */
export const timestampFields = (entity: Entity): string[] =>
  ['updated_at', ...Object.entries(ENTITY_DEFS[entity].columns).filter(([, t]) => t === 'timestamptz').map(([c]) => c)];
