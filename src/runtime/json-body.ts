import { structural } from './errors.ts';

// Fatal: invalid bytes are refused rather than silently replaced by U+FFFD.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A message body as JSON, or a structural error: not UTF-8, or not JSON. */
export function parseJsonBody(body: Uint8Array): unknown {
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw structural('INGESTD_ERR_NOT_JSON', 'not JSON: the body is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw structural('INGESTD_ERR_NOT_JSON', `not JSON: ${(err as Error).message}`);
  }
}
