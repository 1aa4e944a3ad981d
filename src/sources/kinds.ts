/** Broker kinds a domain can be bound to, and those this build can run. */
export const SOURCE_KIND_NAMES = ['amqp', 'kafka', 'nats', 'mqtt'] as const;
export type SourceKind = (typeof SOURCE_KIND_NAMES)[number];

export const isSourceKind = (s: string): s is SourceKind => (SOURCE_KIND_NAMES as readonly string[]).includes(s);
