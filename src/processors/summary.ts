/** n, min, max, mean and population standard deviation of values (Welford: one pass, stable). */
export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly std: number;
}

export function summarize(values: ReadonlyArray<number>): Summary {
  if (values.length === 0) throw new RangeError('cannot summarize no values');
  let mean = 0;
  let m2 = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const delta = v - mean;
    mean += delta / (i + 1);
    m2 += delta * (v - mean);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { n: values.length, min, max, mean, std: Math.sqrt(m2 / values.length) };
}
