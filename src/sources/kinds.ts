/** Broker kinds a domain can be bound to, and those this build can run. */
export const SOURCE_KIND_NAMES = ['amqp', 'kafka', 'nats', 'mqtt'] as const;
export type SourceKind = (typeof SOURCE_KIND_NAMES)[number];

export const isSourceKind = (s: string): s is SourceKind => (SOURCE_KIND_NAMES as readonly string[]).includes(s);

/** Whether `route` (a topic, routing key, subject) matches `pattern` in the wildcard syntax of the broker kind. */
export function routeMatches(kind: string, pattern: string, route: string): boolean {
  if (pattern === route) return true;
  switch (kind) {
    case 'nats':
      return tokensMatch(pattern.split('.'), route.split('.'), '*', '>', 1);
    case 'amqp':
      return tokensMatch(pattern.split('.'), route.split('.'), '*', '#', 0);
    case 'mqtt':
      return tokensMatch(pattern.split('/'), route.split('/'), '+', '#', 0);
    default:
      return false;
  }
}

/** Token wildcards: `one` matches one token, a trailing `rest` at least `restMin` tokens. */
function tokensMatch(p: string[], s: string[], one: string, rest: string, restMin: number): boolean {
  for (let i = 0; i < p.length; i++) {
    if (p[i] === rest && i === p.length - 1) return s.length - i >= restMin;
    if (i >= s.length) return false;
    if (p[i] !== one && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
