/**
 * The Grafana dashboard (deploy/grafana/ingestd.json) queries only metrics and labels this
 * worker exports: a renamed metric or label fails here instead of leaving an empty panel.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createMetrics } from './metrics.ts';

const DASHBOARD = new URL('../../deploy/grafana/ingestd.json', import.meta.url);

/** Labels Prometheus attaches to every scraped series (static and Kubernetes discovery). */
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'service', 'container', 'endpoint'];
/** Series Prometheus writes itself for each scrape. */
const SYNTHETIC = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_series_added'];
/** PromQL functions and aggregations, plus Grafana's label_values. */
const FUNCTIONS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'predict_linear', 'changes', 'resets',
  'histogram_quantile', 'vector', 'scalar', 'abs', 'absent', 'absent_over_time', 'ceil', 'floor', 'round',
  'clamp', 'clamp_min', 'clamp_max', 'label_replace', 'label_join', 'time', 'timestamp', 'sort', 'sort_desc',
  'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'last_over_time',
  'quantile_over_time', 'label_values',
]);
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

type Exported = Map<string, ReadonlySet<string>>;

/** Every series name the registry exports, with its labels (histograms as _bucket, _sum, _count). */
async function exportedSeries(): Promise<Exported> {
  const series = new Map<string, ReadonlySet<string>>();
  // prom-client's metric objects carry their label names and type, its typings neither.
  type Described = { name: string; labelNames?: string[]; get(): Promise<{ type: string }> };
  for (const m of createMetrics().registry.getMetricsAsArray() as unknown as Described[]) {
    const { type } = await m.get();
    const labels = m.labelNames ?? [];
    if (type === 'histogram') {
      series.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      series.set(`${m.name}_sum`, new Set(labels));
      series.set(`${m.name}_count`, new Set(labels));
    } else if (type === 'summary') {
      series.set(m.name, new Set([...labels, 'quantile']));
      series.set(`${m.name}_sum`, new Set(labels));
      series.set(`${m.name}_count`, new Set(labels));
    } else {
      series.set(m.name, new Set(labels));
    }
  }
  for (const s of SYNTHETIC) series.set(s, new Set());
  return series;
}

type Token = { kind: 'ident' | 'string' | 'number' | 'var' | 'punct'; text: string };

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s+|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|(\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\])|([A-Za-z_:][A-Za-z0-9_:]*)|(\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*)|(=~|!~|!=|==|<=|>=|[-+*/%^(){}[\],=<>@])/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < expr.length && (m = re.exec(expr)) !== null) {
    if (m[1] !== undefined) tokens.push({ kind: 'string', text: m[1] });
    else if (m[2] !== undefined) tokens.push({ kind: 'var', text: m[2] });
    else if (m[3] !== undefined) tokens.push({ kind: 'ident', text: m[3] });
    else if (m[4] !== undefined) tokens.push({ kind: 'number', text: m[4] });
    else if (m[5] !== undefined) tokens.push({ kind: 'punct', text: m[5] });
  }
  if (re.lastIndex < expr.length) throw new Error(`cannot read the query from position ${re.lastIndex}: ${expr.slice(re.lastIndex, re.lastIndex + 20)}`);
  return tokens;
}

/** Problems of one PromQL expression (or Grafana label_values query) against the exported series. */
function checkExpression(expr: string, exported: Exported, legend = ''): string[] {
  const problems: string[] = [];
  const tokens = tokenize(expr);
  const selectors: Array<{ metric: string; labels: string[] }> = [];
  const grouping: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'punct' && t.text === '[') {
      while (i < tokens.length && tokens[i]!.text !== ']') i++;
      continue;
    }
    if (t.kind !== 'ident') continue;
    if (GROUPING.has(t.text)) {
      if (next?.text === '(') {
        for (i += 2; i < tokens.length && tokens[i]!.text !== ')'; i++) if (tokens[i]!.kind === 'ident') grouping.push(tokens[i]!.text);
      }
      continue;
    }
    if (KEYWORDS.has(t.text)) continue;
    // An aggregation with its grouping first: sum by (le) (...).
    if (FUNCTIONS.has(t.text) && (next?.text === 'by' || next?.text === 'without')) continue;
    if (next?.text === '(') {
      if (!FUNCTIONS.has(t.text)) problems.push(`unknown function ${t.text}()`);
      // label_values(selector, label): the label is a label of that selector's metric.
      if (t.text === 'label_values') {
        let depth = 0;
        for (let j = i + 1; j < tokens.length; j++) {
          if (tokens[j]!.text === '(' || tokens[j]!.text === '{') depth++;
          if (tokens[j]!.text === ')' || tokens[j]!.text === '}') depth--;
          if (depth === 1 && tokens[j]!.text === ',' && tokens[j + 1]?.kind === 'ident') grouping.push(tokens[j + 1]!.text);
        }
      }
      continue;
    }
    // label_values(metric, label): the bare label after the comma is no metric.
    const prev = tokens[i - 1];
    if (prev?.text === ',' && next?.text !== '{' && tokens.slice(0, i).some((x) => x.text === 'label_values')) continue;
    const selector = { metric: t.text, labels: [] as string[] };
    if (next?.text === '{') {
      for (i += 2; i < tokens.length && tokens[i]!.text !== '}'; i++) {
        if (tokens[i]!.kind === 'ident' && ['=', '!=', '=~', '!~'].includes(tokens[i + 1]?.text ?? '')) selector.labels.push(tokens[i]!.text);
      }
    }
    selectors.push(selector);
  }
  const inScope = new Set<string>(TARGET_LABELS);
  for (const s of selectors) {
    const labels = exported.get(s.metric);
    if (labels === undefined) {
      problems.push(`metric ${s.metric} is not exported (src/runtime/metrics.ts)`);
      continue;
    }
    for (const l of labels) inScope.add(l);
    for (const l of s.labels) if (!labels.has(l) && !TARGET_LABELS.includes(l)) problems.push(`${s.metric} has no label ${l}`);
  }
  if (selectors.length === 0) problems.push('no metric in the query');
  for (const l of grouping) if (!inScope.has(l)) problems.push(`label ${l} is on none of the query's metrics`);
  for (const [, l] of legend.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) if (!inScope.has(l!)) problems.push(`legend {{${l}}}: label on none of the query's metrics`);
  return problems;
}

interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr?: string; legendFormat?: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
  __inputs: Array<{ name: string; type: string; pluginId: string }>;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: { query: string } | string; datasource?: { uid?: string } }> };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const charts = panels.filter((p) => p.type !== 'row');

describe('Grafana dashboard deploy/grafana/ingestd.json', () => {
  test('every query names exported metrics, their labels and known functions', async () => {
    const exported = await exportedSeries();
    const problems: string[] = [];
    for (const p of charts) {
      for (const t of p.targets ?? []) {
        for (const problem of checkExpression(t.expr ?? '', exported, t.legendFormat)) problems.push(`panel "${p.title}": ${problem}\n    ${t.expr}`);
      }
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      const query = typeof v.query === 'string' ? v.query : v.query.query;
      for (const problem of checkExpression(query, exported)) problems.push(`variable $${v.name}: ${problem}\n    ${query}`);
    }
    assert.deepEqual(problems, []);
  });

  test('charts the signals operators act on, and every connection gauge', async () => {
    const queried = charts.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')).join('\n');
    const exported = await exportedSeries();
    const connected = [...exported.keys()].filter((n) => n.endsWith('_connected'));
    assert.ok(connected.length >= 7, `connection gauges: ${connected.join(', ')}`);
    const required = [
      'stream_messages_total', 'stream_messages_failed_total', 'stream_dlq_messages_total', 'stream_readings_total',
      'stream_processing_latency_seconds_bucket', 'db_write_latency_ms_bucket', 'stream_lag_seconds',
      'kafka_consumer_lag_messages', 'stream_paused', 'stream_messages_in_flight', 'stream_outbox_pending_batches',
      'process_resident_memory_bytes', ...connected,
    ];
    assert.deepEqual(required.filter((m) => !new RegExp(`\\b${m}\\b`).test(queried)), []);
  });

  test('imports into any Grafana: one datasource input, used by every panel and query', () => {
    assert.deepEqual(dashboard.__inputs.map((i) => [i.name, i.type, i.pluginId]), [['DS_PROMETHEUS', 'datasource', 'prometheus']]);
    for (const p of charts) {
      assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `panel "${p.title}"`);
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has no query`);
      for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, '${DS_PROMETHEUS}', `panel "${p.title}"`);
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) assert.equal(v.datasource?.uid, '${DS_PROMETHEUS}', `$${v.name}`);
  });

  test('panel ids are unique and panels fit the 24-column grid without overlapping', () => {
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    const taken = new Map<string, string>();
    for (const p of panels) {
      const g = p.gridPos!;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `panel "${p.title}" is outside the grid`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const other = taken.get(`${x},${y}`);
          assert.equal(other, undefined, `panels "${p.title}" and "${other}" overlap`);
          taken.set(`${x},${y}`, p.title ?? '');
        }
      }
    }
  });

  test('the checker finds unknown metrics, labels and functions', async () => {
    const exported = await exportedSeries();
    assert.deepEqual(checkExpression('sum by (domain) (rate(stream_messages_total{job="x"}[5m]))', exported, '{{domain}}'), []);
    assert.deepEqual(checkExpression('histogram_quantile(0.99, sum by (le) (rate(db_write_latency_ms_bucket[$__rate_interval])))', exported), []);
    assert.deepEqual(checkExpression('label_values(stream_messages_total{job=~"$job"}, domain)', exported), []);
    assert.deepEqual(checkExpression('rate(stream_message_total[5m])', exported), ['metric stream_message_total is not exported (src/runtime/metrics.ts)']);
    assert.deepEqual(checkExpression('stream_lag_seconds{topic="a"}', exported), ['stream_lag_seconds has no label topic']);
    assert.deepEqual(checkExpression('sum by (domain) (stream_events_published_total)', exported), ['label domain is on none of the query\'s metrics']);
    assert.deepEqual(checkExpression('rates(stream_messages_total[5m])', exported), ['unknown function rates()']);
    assert.deepEqual(checkExpression('kafka_consumer_lag_messages', exported, '{{domain}}'), ["legend {{domain}}: label on none of the query's metrics"]);
    assert.deepEqual(checkExpression('label_values(stream_lag_seconds, topic)', exported), ["label topic is on none of the query's metrics"]);
  });
});
