/** Percentiles of latency samples, in milliseconds. */

export interface Summary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
}

/** The nearest-rank percentile: the smallest sample with p% at or below. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)] as number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
  };
}

/** Adds samples taken in the same iterations: one sum per iteration. */
export function addPairwise(...series: readonly number[][]): number[] {
  const length = Math.min(...series.map((each) => each.length));
  return Array.from({ length }, (_, index) =>
    series.reduce((sum, each) => sum + (each[index] as number), 0),
  );
}
