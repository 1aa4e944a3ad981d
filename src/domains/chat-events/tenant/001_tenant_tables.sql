-- One company's chat data (schema tenant_<id>, first on the search_path while this runs).
-- last_event_id compares byte-wise (COLLATE "C"): the tie-break of last-write-wins.
CREATE TABLE IF NOT EXISTS chats (
  chat_id         text PRIMARY KEY,
  name            text,
  is_group        boolean,
  unread_count    integer,
  archived        boolean,
  last_message_at timestamptz,
  updated_at      timestamptz NOT NULL,
  last_event_id   text COLLATE "C" NOT NULL,
  payload         jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
  message_id    text PRIMARY KEY,
  chat_id       text,
  from_me       boolean,
  sender        text,
  type          text,
  body          text,
  status        text CHECK (status IN ('pending', 'sent', 'delivered', 'read', 'failed')),
  sent_at       timestamptz,
  updated_at    timestamptz NOT NULL,
  last_event_id text COLLATE "C" NOT NULL,
  payload       jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_messages_chat ON messages (chat_id, sent_at);
CREATE TABLE IF NOT EXISTS contacts (
  contact_id    text PRIMARY KEY,
  phone         text,
  name          text,
  push_name     text,
  is_business   boolean,
  updated_at    timestamptz NOT NULL,
  last_event_id text COLLATE "C" NOT NULL,
  payload       jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS agents (
  agent_id      text PRIMARY KEY,
  name          text,
  email         text,
  status        text CHECK (status IN ('online', 'away', 'offline')),
  updated_at    timestamptz NOT NULL,
  last_event_id text COLLATE "C" NOT NULL,
  payload       jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS onboarding_log (
  event_id      text PRIMARY KEY,
  entity_type   text NOT NULL,
  items_total   integer NOT NULL,
  items_applied integer NOT NULL,
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz,
  status        text NOT NULL CHECK (status IN ('running', 'done', 'failed'))
);
