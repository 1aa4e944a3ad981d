import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outOfSpec, specControlLimits } from './spec-limits.ts';
import { classify, EMPTY_SERIES, rollingLimits, stepSeries, type ControlLimits, type RuleViolation, type SeriesState } from './western-electric.ts';

const LIMITS: ControlLimits = { center: 10, sigma: 1 };

/** Feeds values (t = index) and returns the violations of each point. */
function run(values: number[], limits: ControlLimits | null = LIMITS, state: SeriesState = EMPTY_SERIES): RuleViolation[][] {
  const out: RuleViolation[][] = [];
  let s = state;
  values.forEach((v, t) => {
    const step = stepSeries(s, { t, v }, limits);
    s = step.state;
    out.push(step.violations);
  });
  return out;
}

const rulesAt = (values: number[], limits: ControlLimits | null = LIMITS): string[][] => run(values, limits).map((v) => v.map((x) => x.rule));

test('classify: side and whole sigmas beyond the centre, strictly', () => {
  assert.deepEqual(classify({ t: 0, v: 13.01 }, LIMITS), { t: 0, v: 13.01, side: 1, level: 3 });
  assert.deepEqual(classify({ t: 0, v: 13 }, LIMITS), { t: 0, v: 13, side: 1, level: 2 });
  assert.deepEqual(classify({ t: 0, v: 8.5 }, LIMITS), { t: 0, v: 8.5, side: -1, level: 1 });
  assert.deepEqual(classify({ t: 0, v: 10 }, LIMITS), { t: 0, v: 10, side: 0, level: 0 });
  assert.deepEqual(classify({ t: 0, v: 99 }, null), { t: 0, v: 99, side: 0, level: 0 });
});

test('rule 1: a point beyond 3 sigma fires; exactly 3 sigma does not', () => {
  assert.deepEqual(rulesAt([10, 13.5, 10]), [[], ['we1'], []]);
  assert.deepEqual(rulesAt([10, 13, 7]), [[], [], []]);
  assert.deepEqual(rulesAt([6.9]), [['we1']]);
});

test('rule 2: two of three beyond 2 sigma on one side; the near miss (opposite sides) does not', () => {
  const hit = run([10, 12.5, 10.2, 12.4]);
  assert.deepEqual(hit.map((v) => v.map((x) => x.rule)), [[], [], [], ['we2']]);
  assert.deepEqual(hit[3]![0]!.points.map((p) => p.v), [12.5, 12.4]);
  assert.deepEqual(rulesAt([10, 12.5, 7.5, 10]), [[], [], [], []]);
  // The third point of the three may be anywhere.
  assert.deepEqual(rulesAt([10, 12.5, 7.5, 12.4]).at(-1), ['we2']);
  // Two beyond 2 sigma but four points apart: not within three.
  assert.deepEqual(rulesAt([12.5, 10, 10, 12.5]), [[], [], [], []]);
});

test('rule 2 fires once per excursion', () => {
  // The third point keeps the condition true (12.5, 12.6 still within the last three).
  assert.deepEqual(rulesAt([12.5, 12.6, 10, 10, 10]), [[], ['we2'], [], [], []]);
});

test('rule 3: four of five beyond 1 sigma on one side; three of five does not', () => {
  assert.deepEqual(rulesAt([8.5, 8.8, 10, 8.6, 8.7]), [[], [], [], [], ['we3']]);
  assert.deepEqual(rulesAt([8.5, 8.8, 10, 10.1, 8.7]), [[], [], [], [], []]);
});

test('rule 4: eight in a row on one side; seven then a crossing does not', () => {
  const eight = [10.1, 10.2, 10.1, 10.3, 10.2, 10.1, 10.4, 10.2];
  assert.deepEqual(rulesAt(eight).at(-1), ['we4']);
  assert.deepEqual(rulesAt([...eight, 10.1, 10.3]).slice(8), [[], []], 'the same run does not fire again');
  assert.deepEqual(rulesAt([10.1, 10.2, 10.1, 10.3, 10.2, 10.1, 10.4, 9.9]).flat(), []);
  // A point exactly on the centre line breaks the run.
  assert.deepEqual(rulesAt([10.1, 10.2, 10.1, 10, 10.2, 10.1, 10.4, 10.2, 10.1]).flat(), []);
});

test('several rules at one point', () => {
  // 8 above, the 8th beyond 3 sigma: rules 1 and 4.
  assert.deepEqual(rulesAt([10.1, 10.2, 10.1, 10.3, 10.2, 10.1, 10.4, 13.5]).at(-1), ['we1', 'we4']);
});

test('rolling limits: mean and population sigma of the previous values, after minHistory', () => {
  assert.equal(rollingLimits([1, 2, 3], 10), null);
  assert.equal(rollingLimits(Array(12).fill(5), 10), null, 'a flat series has no sigma');
  const l = rollingLimits([2, 4, 4, 4, 5, 5, 7, 9], 8)!;
  assert.equal(l.center, 5);
  assert.equal(l.sigma, 2);
});

test('without a spec, the rules apply once the baseline holds minHistory values', () => {
  const warmup = [10, 11, 9, 10, 11, 9, 10, 11, 9, 10];
  const rules = rulesAt([...warmup, 30], null);
  assert.deepEqual(rules.slice(0, 10).flat(), [], 'no limits during warm-up');
  assert.deepEqual(rules[10], ['we1']);
  // With fewer values than minHistory nothing fires, however wild the point.
  assert.deepEqual(rulesAt([10, 11, 1000], null).flat(), []);
});

test('state is bounded and carried between calls like a batch boundary', () => {
  const a = run([10.1, 10.2, 10.1, 10.3]);
  let s = EMPTY_SERIES;
  for (const [t, v] of [10.1, 10.2, 10.1, 10.3].entries()) s = stepSeries(s, { t, v }, LIMITS).state;
  assert.equal(a.flat().length, 0);
  const b = run([10.2, 10.1, 10.4, 10.2], LIMITS, s);
  assert.deepEqual(b.map((v) => v.map((x) => x.rule)), [[], [], [], ['we4']]);
  for (let i = 0; i < 100; i++) s = stepSeries(s, { t: i, v: i }, null).state;
  assert.equal(s.recent.length, 9);
  assert.equal(s.baseline.length, 30);
});

test('spec limits: out of spec outside [lsl, usl]; control limits from target and sigma or the tolerance', () => {
  const spec = { lsl: 20, usl: 26, target: null, sigma: null };
  assert.equal(outOfSpec(19.99, spec), 'below_lsl');
  assert.equal(outOfSpec(20, spec), null);
  assert.equal(outOfSpec(26, spec), null);
  assert.equal(outOfSpec(26.01, spec), 'above_usl');
  assert.deepEqual(specControlLimits(spec), { center: 23, sigma: 1 });
  assert.deepEqual(specControlLimits({ ...spec, target: 22, sigma: 0.5 }), { center: 22, sigma: 0.5 });
  assert.equal(specControlLimits({ lsl: 20, usl: null, target: null, sigma: null }), null);
  assert.equal(outOfSpec(1e9, { lsl: 20, usl: null, target: null, sigma: null }), null);
});
