/**
 * Values go into SQL as $n parameters, never into the text. This test reads every .ts file
 * under src/ and fails, with file:line, on:
 *  - an interpolation `${…}` in a template literal that looks like SQL (keywords, or the
 *    first argument of a `.query(` call) unless it is one of the safe forms below;
 *  - a string or template that looks like SQL joined with `+` (concatenation into query text).
 * Safe forms are identifier/literal quoting helpers, and a short list of named expressions,
 * each with the reason it cannot carry a value. A new entry needs the same kind of reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const SQL = /\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|WHERE|VALUES|SET|FROM|JOIN|CREATE|DROP|ALTER|GRANT|REVOKE|TRUNCATE|COPY|ON\s+CONFLICT|RETURNING|ORDER\s+BY|GROUP\s+BY|LIMIT|CASE\s+WHEN|UNION)\b|^\s*\(?\s*(select|insert|update|delete|with)\s/;

/** Interpolations safe anywhere: quoting helpers and wrappers of them over literal names. */
const SAFE_FORMS: ReadonlyArray<[RegExp, string]> = [
  [/^(quoteIdent|qualified|quoteLiteral)\(.*\)$/s, 'identifier / DDL-literal quoting (pg.escapeIdentifier, pg.escapeLiteral)'],
  [/^.+\.map\(quoteIdent\)\.join\(', '\)$/s, 'a list whose every element goes through quoteIdent'],
  [/^analyticsTable\(v, '\w+'\)$/, 'qualified(<literal table>, DB_SCHEMA)'],
  [/^this\.#t\('\w+'\)$/, 'analytics store: qualified(<literal table>, DB_SCHEMA)'],
  [/^TS\('\w+'\)$/, 'to_char() of a column named by a literal'],
];

/** Named interpolations of one file: the exact expression, and why it holds no value. */
const ALLOWED: ReadonlyArray<{ file: string; expr: string; why: string }> = [
  { file: 'src/domains/chat-events/store.ts', expr: 't', why: 'qualified(entity, schema)' },
  { file: 'src/domains/chat-events/store.ts', expr: 'q', why: 'quoteIdent(column) of ENTITY_DEFS' },
  { file: 'src/domains/chat-events/store.ts', expr: 'lit(c)', why: 'a column name of ENTITY_DEFS as a JSON key literal' },
  { file: 'src/domains/chat-events/store.ts', expr: 'value', why: 'excluded.<quoted column>, or the status function over it' },
  { file: 'src/domains/chat-events/store.ts', expr: "select.join(', ')", why: 'casts of JSON keys named in ENTITY_DEFS' },
  { file: 'src/domains/chat-events/store.ts', expr: "set.join(', ')", why: 'assignments of quoted ENTITY_DEFS columns' },
  { file: 'src/domains/grid-telemetry/store.ts', expr: 'table', why: "typed 'aggregates_1m' | 'aggregates_15m'" },
  { file: 'src/domains/grid-telemetry/store.ts', expr: 'placeholders(first, AGGREGATE_TYPES)', why: '$n::type[] placeholders: numbers from a constant, types from a constant list' },
  { file: 'src/domains/grid-telemetry/store.ts', expr: "aggregateUpsert('aggregates_1m', 1)", why: 'the constant upsert text of a literal table, placeholders from $1' },
  { file: 'src/domains/grid-telemetry/store.ts', expr: "aggregateUpsert('aggregates_15m', 10)", why: 'the constant upsert text of a literal table, placeholders from $10' },
  { file: 'src/domains/smart-grid/store.ts', expr: 'table', why: 'iterates a const tuple of two table names' },
  { file: 'src/domains/analytics/store.ts', expr: 'lock', why: "'' or 'FOR UPDATE OF s', literals of the two callers of #selectSeries" },
  { file: 'src/domains/analytics/store.ts', expr: 'SERIES_ROWS', why: 'the constant unnest() of $1..$7' },
  { file: 'src/http/api/alerts.ts', expr: "parts.join(' UNION ALL ')", why: 'constant SELECTs (tables via analyticsTable), values as $1..$3' },
  { file: 'src/sinks/postgres/copy.ts', expr: 'table', why: 'contract: quoted by the caller with qualified()' },
  { file: 'src/sinks/postgres/detections.ts', expr: 'insert', why: "the caller's INSERT … SELECT (scanned where written)" },
  { file: 'src/sinks/postgres/detections.ts', expr: 'idColumn', why: 'a column name literal at every call site' },
  { file: 'src/sinks/influxdb/client.ts', expr: 'ident(db)', why: 'InfluxQL identifier quoting' },
  { file: 'src/sinks/influxdb/client.ts', expr: 'ident(p.name)', why: 'InfluxQL identifier quoting' },
  { file: 'src/sinks/influxdb/client.ts', expr: 'p.duration', why: 'checked against DURATION (INF or digits + h/d/w) just before' },
  { file: 'src/sinks/influxdb/client.ts', expr: "isDefault ? ' DEFAULT' : ''", why: 'a keyword or nothing' },
  { file: 'src/cli/demo.ts', expr: 'perCompany', why: "one SELECT per constant DEMO_COMPANIES schema, through qualified()" },
];

interface Template { kind: 'template'; text: string; exprs: Array<{ text: string; line: number }>; line: number }
type Token = Template | { kind: 'string'; text: string; line: number } | { kind: 'punct' | 'word'; text: string; line: number };

/** Tokens that matter here: strings, templates (with their interpolations, nested ones too), words, punctuation. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const lineStarts = [0];
  for (let i = 0; i < src.length; i++) if (src[i] === '\n') lineStarts.push(i + 1);
  const lineAt = (pos: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  // A `/` starts a regular expression after these (else it divides).
  const REGEX_AFTER = /^$|^[(,=:[!&|?{};+\-*%<>~^]$|^(return|typeof|case|of|in|void|delete|throw|new|else|do|yield|await)$/;
  let i = 0;
  let prev = '';
  const code = (untilBrace: boolean): void => {
    let depth = 0;
    while (i < src.length) {
      const c = src[i]!;
      const start = i;
      if (c === '/' && src[i + 1] === '/') i = src.includes('\n', i) ? src.indexOf('\n', i) : src.length;
      else if (c === '/' && src[i + 1] === '*') i = src.indexOf('*/', i + 2) + 2;
      else if (/\s/.test(c)) i++;
      else if (c === "'" || c === '"') {
        let text = '';
        for (i++; i < src.length && src[i] !== c; i++) text += src[i] === '\\' ? src[++i] : src[i];
        i++;
        out.push({ kind: 'string', text, line: lineAt(start) });
        prev = 'string';
      } else if (c === '`') {
        template();
        prev = 'template';
      } else if (c === '/' && REGEX_AFTER.test(prev)) {
        let inClass = false;
        for (i++; i < src.length && (src[i] !== '/' || inClass); i++) {
          if (src[i] === '\\') i++;
          else if (src[i] === '[') inClass = true;
          else if (src[i] === ']') inClass = false;
        }
        for (i++; /[a-z]/.test(src[i] ?? ''); i++);
        prev = 'regex';
      } else if (/[\w$#]/.test(c)) {
        while (/[\w$#]/.test(src[i] ?? '')) i++;
        prev = src.slice(start, i);
        out.push({ kind: 'word', text: prev, line: lineAt(start) });
      } else {
        if (c === '{') depth++;
        if (c === '}' && depth-- === 0 && untilBrace) return;
        out.push({ kind: 'punct', text: c, line: lineAt(start) });
        prev = c;
        i++;
      }
    }
  };
  const template = (): void => {
    const t: Template = { kind: 'template', text: '', exprs: [], line: lineAt(i) };
    out.push(t);
    for (i++; i < src.length && src[i] !== '`'; ) {
      if (src[i] === '\\') {
        t.text += src.slice(i, i + 2);
        i += 2;
      } else if (src[i] === '$' && src[i + 1] === '{') {
        i += 2;
        const start = i;
        const outer = prev;
        prev = '';
        code(true);
        prev = outer;
        t.exprs.push({ text: src.slice(start, i).trim().replace(/\s+/g, ' '), line: lineAt(start) });
        t.text += ' ';
        i++;
      } else t.text += src[i++];
    }
    i++;
  };
  code(false);
  return out;
}

/** Every place in one file where a value could be built into SQL text. */
export function findUnsafeSql(file: string, src: string): string[] {
  const tokens = tokenize(src);
  const found: string[] = [];
  const isPlus = (t: Token | undefined): boolean => t?.kind === 'punct' && t.text === '+';
  tokens.forEach((t, k) => {
    const queryArg = tokens[k - 1]?.text === '(' && tokens[k - 2]?.text === 'query';
    const sqlText = (t.kind === 'string' || t.kind === 'template') && SQL.test(t.text);
    if (t.kind === 'template' && (sqlText || queryArg)) {
      for (const e of t.exprs) {
        const safe = SAFE_FORMS.some(([re]) => re.test(e.text)) || ALLOWED.some((a) => a.file === file && a.expr === e.text);
        if (!safe) found.push(`${file}:${e.line}: \${${e.text}} in SQL text (pass values as $n parameters; quote identifiers with quoteIdent/qualified)`);
      }
    }
    if ((sqlText || (queryArg && t.kind !== 'word')) && (isPlus(tokens[k - 1]) || isPlus(tokens[k + 1]) || (tokens[k - 1]?.text === '=' && isPlus(tokens[k - 2])))) {
      found.push(`${file}:${t.line}: SQL text joined with + (pass values as $n parameters)`);
    }
  });
  return found;
}

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* sources(path);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) yield path;
  }
}

test('no SQL text is built from values anywhere under src/', () => {
  const files = [...sources(join(ROOT, 'src'))];
  assert.ok(files.length > 100, `only ${files.length} files found`);
  const found: string[] = [];
  const used = new Set<(typeof ALLOWED)[number]>();
  for (const path of files) {
    const file = relative(ROOT, path).split('\\').join('/');
    const src = readFileSync(path, 'utf8');
    found.push(...findUnsafeSql(file, src));
    for (const t of tokenize(src)) if (t.kind === 'template') for (const a of ALLOWED) if (a.file === file && t.exprs.some((e) => e.text === a.expr)) used.add(a);
  }
  assert.deepEqual(found, []);
  // An allowance nothing needs any more goes, so the list stays a list of real exceptions.
  assert.deepEqual(ALLOWED.filter((a) => !used.has(a)).map((a) => `${a.file}: ${a.expr}`), []);
});

test('the check finds values built into SQL (self-check)', () => {
  const bad = [
    'const q1 = `SELECT * FROM t WHERE id = \'${id}\'`;',
    "const q2 = 'SELECT * FROM t WHERE id = ' + id;",
    "let q3 = 'SELECT 1'; q3 += ' WHERE tenant = ' + tenant;",
    'await pool.query(`${statement}`);',
    'await pool.query(`DELETE FROM ${qualified("t", s)} WHERE tenant = ${`\'${tenant}\'`}`);',
    'const re = /["`]/g; // a regex and a comment with a ` backtick\nconst q6 = `UPDATE t SET x = ${x}`;',
    '/* `SELECT ${inComment}` */ const q7 = `INSERT INTO t VALUES (${v})`;',
    'const q8 = `\n  SELECT a\n    FROM t\n   WHERE b = ${b}`;',
  ].join('\n');
  assert.deepEqual(findUnsafeSql('x.ts', bad).map((f) => f.replace(/ \(pass .*$/, '')), [
    "x.ts:1: ${id} in SQL text",
    'x.ts:2: SQL text joined with +',
    'x.ts:3: SQL text joined with +',
    'x.ts:4: ${statement} in SQL text',
    "x.ts:5: ${`'${tenant}'`} in SQL text",
    'x.ts:7: ${x} in SQL text',
    'x.ts:8: ${v} in SQL text',
    'x.ts:12: ${b} in SQL text',
  ]);
  const good = [
    'await tx.query(`SELECT * FROM ${qualified("t", schema)} WHERE id = $1 AND tenant = ANY($2::text[])`, [id, tenants]);',
    "const msg = `migration ${name} failed: ${err.message}`; const sum = a + 'b';",
    'const ddl = `CREATE TABLE ${quoteIdent(name)} PARTITION OF p FOR VALUES FROM (${quoteLiteral(from)}) TO (${quoteLiteral(to)})`;',
  ].join('\n');
  assert.deepEqual(findUnsafeSql('y.ts', good), []);
});
