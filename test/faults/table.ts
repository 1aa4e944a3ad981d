/** The faults × sources table the suite prints. */
import { FAULT_TITLES, type ScenarioResult } from './scenario.ts';

const COLUMNS = ['fault', 'source', 'sent', 'stored', 'duplicates', 'lost', 'dead-lettered', 'DLQ copies', 'alerts', 'alerts missing/extra', 'result'] as const;

export function formatTable(results: ReadonlyArray<ScenarioResult>): string {
  const rows = results.map((r) => {
    const c = r.counts;
    const n = (v: number | undefined): string => (v === undefined ? '—' : String(v));
    return [
      FAULT_TITLES[r.fault], r.source, n(c?.sent), c === undefined ? '—' : `${c.stored}/${c.expected}`, n(c?.duplicates), n(c?.lost),
      c === undefined ? '—' : `${c.deadLettered}/${c.injectedBad}`, n(c?.deadLetterCopies), n(c?.alerts),
      c === undefined ? '—' : `${c.alertsMissing}/${c.alertsExtra}`, r.problems.length === 0 ? 'ok' : 'FAILED',
    ];
  });
  const widths = COLUMNS.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
