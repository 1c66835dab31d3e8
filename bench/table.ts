/**
 * The benchmark's one table: per watch mode, the agent's latency beside
 * the floor measured in the same run, their ratios, and PASS or MISS
 * against the targets (p50 within 1.5x of the floor, p99 within 3x).
 */
import type { WatchKind } from './consumer.js';
import type { ModeSamples } from './measure.js';
import { addPairwise, summarize, type Summary } from './stats.js';

export const TARGET_P50 = 1.5;
export const TARGET_P99 = 3;

export type Row =
  | { mode: WatchKind; server: string; samples: ModeSamples }
  | { mode: WatchKind; server: string; skipped: string };

const HEADINGS = [
  'mode',
  'server',
  'events',
  'agent',
  'floor a+b+c',
  '(a) watch',
  '(b) writes',
  '(c) spawn',
  'agent/floor',
  'p50<=1.5x',
  'p99<=3x',
];

export function formatTable(rows: readonly Row[]): string {
  const cells = rows.map((row) =>
    'skipped' in row
      ? [row.mode, row.server, '-', `skipped: ${row.skipped}`]
      : measuredCells(row.mode, row.server, row.samples),
  );
  const widths = HEADINGS.map((heading, column) =>
    Math.max(
      heading.length,
      ...cells.filter((line) => line.length > 4).map((l) => l[column]!.length),
    ),
  );
  const format = (line: string[]) =>
    line
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [
    "Latency from an add's completion to the conduit starting, " +
      'in ms, as p50 / p99',
    '',
    format(HEADINGS),
    ...cells.map(format),
  ].join('\n');
}

function measuredCells(mode: WatchKind, server: string, s: ModeSamples) {
  const agent = summarize(s.agent);
  const floor = summarize(addPairwise(s.watch, s.writeTime, s.spawn));
  const writes = s.writes.reduce((sum, count) => sum + count, 0);
  const p50 = agent.p50 / floor.p50;
  const p99 = agent.p99 / floor.p99;
  return [
    mode,
    server,
    String(agent.count),
    pair(agent),
    pair(floor),
    pair(summarize(s.watch)),
    `${writes} (${summarize(s.writeTime).p50.toFixed(2)} ms)`,
    pair(summarize(s.spawn)),
    `${p50.toFixed(2)}x / ${p99.toFixed(2)}x`,
    verdict(p50, TARGET_P50),
    verdict(p99, TARGET_P99),
  ];
}

function pair(summary: Summary): string {
  return `${summary.p50.toFixed(2)} / ${summary.p99.toFixed(2)}`;
}

function verdict(ratio: number, target: number): string {
  return ratio <= target ? 'PASS' : 'MISS';
}
