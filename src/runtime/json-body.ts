import { structural } from './errors.ts';

// Fatal: invalid bytes are refused rather than silently replaced by U+FFFD.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Deepest nesting a body may have (Jackson's default limit). JSON.parse has none, but
 * JSON.stringify, structuredClone and PostgreSQL's jsonb input recurse and run out of stack
 * a few thousand levels down: refused here, such a message is structural, not a crash or poison.
 */
export const MAX_JSON_DEPTH = 1000;

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * A message body as JSON, or a structural error: not UTF-8, not JSON, nested deeper than
 * MAX_JSON_DEPTH, or holding a lone surrogate (a `\uD800` escape is valid JSON, but no UTF-8
 * column can store it: PostgreSQL text would get U+FFFD, so two ids would become one, and jsonb
 * refuses it).
 */
export function parseJsonBody(body: Uint8Array): unknown {
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw structural('INGESTD_ERR_NOT_JSON', 'not JSON: the body is not valid UTF-8');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // V8 quotes the unexpected character, which may be half of a surrogate pair.
    throw structural('INGESTD_ERR_NOT_JSON', `not JSON: ${(err as Error).message}`.toWellFormed());
  }
  // Only a surrogate's \u escape can make a lone one (the bytes are valid UTF-8), and counting
  // brackets is cheaper than walking the value: most messages skip the walk.
  if (SURROGATE_ESCAPE.test(text) || (text.length > 2 * MAX_JSON_DEPTH && deeperThan(text, MAX_JSON_DEPTH))) {
    const problem = unstorable(doc);
    if (problem !== null) throw structural('INGESTD_ERR_SCHEMA', problem);
  }
  return doc;
}

/** Whether valid JSON text nests deeper than `limit`: brackets outside strings. */
function deeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

interface Frame {
  readonly value: unknown;
  readonly parent: Frame | undefined;
  readonly key: string | number;
  readonly depth: number;
}

/** JSON Pointer of a frame; built only for a reason. */
function pointer(frame: Frame): string {
  const parts: string[] = [];
  for (let f: Frame | undefined = frame; f?.parent !== undefined; f = f.parent) parts.push(String(f.key).replace(/~/g, '~0').replace(/\//g, '~1'));
  return parts.length === 0 ? '/' : `/${parts.reverse().join('/')}`;
}

/** The first lone surrogate or too deep nesting, as a reason; null when there is none. Iterative, as the input may nest deep. */
function unstorable(doc: unknown): string | null {
  const stack: Frame[] = [{ value: doc, parent: undefined, key: '', depth: 0 }];
  while (stack.length > 0) {
    const f = stack.pop()!;
    const v = f.value;
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return `${pointer(f)}: must not contain a lone surrogate (it has no UTF-8 form)`;
    } else if (typeof v === 'object' && v !== null) {
      if (f.depth === MAX_JSON_DEPTH) {
        let top = f;
        while (top.depth > 1) top = top.parent!;
        return `${pointer(top)}: must not nest deeper than ${MAX_JSON_DEPTH} levels`;
      }
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], parent: f, key: i, depth: f.depth + 1 });
        continue;
      }
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        if (!key.isWellFormed()) return `${pointer(f)}: property names must not contain a lone surrogate (it has no UTF-8 form)`;
        stack.push({ value: (v as Record<string, unknown>)[key], parent: f, key, depth: f.depth + 1 });
      }
    }
  }
  return null;
}
