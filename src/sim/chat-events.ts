/**
 * Chat-platform traffic for the chat-events domain: realtime upserts of chats, messages
 * (walking pending → sent → delivered → read, sometimes failed), contacts and agents, some
 * delivered late (an older state after a newer one), history batches, and malformed
 * events. Deterministic for a seed.
 */
import { createRandom } from './random.ts';

export const CHAT_SUBJECTS = ['v1.chats.upsert', 'v1.messages.upsert', 'v1.contacts.upsert', 'v1.agents.upsert', 'v1.history.chats', 'v1.history.messages', 'v1.history.contacts'] as const;

export interface ChatMessage {
  readonly subject: string;
  readonly body: Buffer;
  readonly kind: 'realtime' | 'stale' | 'history' | 'invalid';
}

export interface ChatSimOptions {
  readonly seed: number;
  readonly companies: ReadonlyArray<string>;
  /** Base subjects to draw from (`v1.messages.upsert`, `v1.history.chats`…); default all. */
  readonly subjects?: ReadonlyArray<string>;
  /** Items per history batch. */
  readonly historyCount: number;
  readonly startTime: number;
  readonly invalidRate: number;
  /** Share of realtime events re-sent later with an older state. */
  readonly staleRate: number;
}

const STATUSES = ['pending', 'sent', 'delivered', 'read'] as const;

export function createChatGenerator(o: ChatSimOptions): { next(): ChatMessage } {
  const rnd = createRandom(o.seed);
  const subjects = o.subjects ?? CHAT_SUBJECTS;
  let clock = o.startTime;
  let seq = 0;
  const held: ChatMessage[] = [];
  const progress = new Map<string, number>(); // message → status index
  const iso = (t: number): string => new Date(t).toISOString();
  const item = (entity: string, company: string, n: number, t: number): Record<string, unknown> => {
    switch (entity) {
      case 'chats':
        return { chat_id: `c-${n % 50}`, name: `Chat ${n % 50}`, is_group: n % 7 === 0, unread_count: n % 9, archived: false, last_message_at: iso(t), updated_at: iso(t) };
      case 'contacts':
        return { contact_id: `p-${n % 80}`, phone: `+62${String(8100000000 + (n % 80))}`, name: `Contact ${n % 80}`, push_name: null, is_business: n % 5 === 0, updated_at: iso(t) };
      case 'agents':
        return { agent_id: `a-${n % 10}`, name: `Agent ${n % 10}`, email: `agent${n % 10}@${company.toLowerCase()}.example`, status: rnd.pick(['online', 'away', 'offline'] as const), updated_at: iso(t) };
      default: {
        const id = `m-${n % 200}`;
        const at = Math.min((progress.get(`${company}/${id}`) ?? -1) + 1, 3);
        progress.set(`${company}/${id}`, at);
        const status = rnd.chance(0.03) ? 'failed' : STATUSES[at];
        return { message_id: id, chat_id: `c-${n % 50}`, from_me: n % 2 === 0, sender: `p-${n % 80}`, type: 'text', body: `message ${n}`, status, sent_at: iso(o.startTime + (n % 200) * 1000), updated_at: iso(t) };
      }
    }
  };
  return {
    next() {
      if (held.length > 0 && rnd.chance(0.3)) return held.shift()!;
      seq++;
      clock += rnd.int(1, 50);
      const company = o.companies[seq % o.companies.length]!;
      const base = rnd.pick(subjects as readonly string[]);
      const history = base.startsWith('v1.history.');
      const entity = history ? base.split('.')[2]! : base.split('.')[1]!;
      const subject = `${base}.${company}`;
      const eventId = `ev-${String(seq).padStart(9, '0')}`;
      const type = history ? `history.${entity}` : `${entity}.upsert`;
      if (rnd.chance(o.invalidRate)) {
        return rnd.chance(0.5)
          ? { subject, body: Buffer.from('{"event_id":'), kind: 'invalid' }
          : { subject, body: Buffer.from(JSON.stringify({ event_id: eventId, type, company_id: company, occurred_at: iso(clock), data: history ? {} : { updated_at: iso(clock) } })), kind: 'invalid' };
      }
      const data = history ? Array.from({ length: o.historyCount }, (_, i) => item(entity, company, seq * 31 + i, clock - 3_600_000)) : item(entity, company, seq, clock);
      const msg: ChatMessage = { subject, body: Buffer.from(JSON.stringify({ event_id: eventId, type, company_id: company, occurred_at: iso(clock), data })), kind: history ? 'history' : 'realtime' };
      if (!history && rnd.chance(o.staleRate)) {
        // The same entity a little later with a newer state; this one then arrives after it.
        held.push({ ...msg, kind: 'stale' });
        clock += 100;
        const newer = { ...(data as Record<string, unknown>), updated_at: iso(clock) };
        return { subject, body: Buffer.from(JSON.stringify({ event_id: `${eventId}-n`, type, company_id: company, occurred_at: iso(clock), data: newer })), kind: 'realtime' };
      }
      return msg;
    },
  };
}
