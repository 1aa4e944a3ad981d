/** A durable consumer name for a subject filter (names cannot hold `.`, `*`, `>`). */
export function durableName(prefix: string, subject: string): string {
  return `${prefix}_${subject.replace(/\*/g, 'any').replace(/>/g, 'all').replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The DLQ subject of a subject or filter: `dlq.` + it (SPEC §5.4). */
export const dlqSubject = (subject: string): string => `dlq.${subject}`;
