-- Message status never regresses: pending < sent < delivered < read; failed only replaces
-- pending or sent, and is only replaced by delivered or read. NULL (absent or cleared)
-- keeps the stored status.
CREATE OR REPLACE FUNCTION ingestd_chat_status_next(old text, new text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN new IS NULL THEN old
    WHEN old IS NULL THEN new
    WHEN new = 'failed' THEN CASE WHEN old IN ('pending', 'sent') THEN new ELSE old END
    WHEN old = 'failed' THEN CASE WHEN new IN ('delivered', 'read') THEN new ELSE old END
    WHEN array_position(ARRAY['pending', 'sent', 'delivered', 'read'], new) >= array_position(ARRAY['pending', 'sent', 'delivered', 'read'], old) THEN new
    ELSE old
  END
$$;
