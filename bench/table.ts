/**
 * The benchmark's one table: each figure beside its reference measured in
 * the same run, their ratio, the target, and PASS or MISS against it.
 */
export interface TableRow {
  readonly figure: string;
  readonly server: string;
  readonly measured: string;
  readonly reference: string;
  readonly ratio: string;
  readonly target: string;
  /** PASS, MISS, or '-' for a figure without a target. */
  readonly result: string;
}

const HEADINGS: TableRow = {
  figure: 'figure',
  server: 'server',
  measured: 'measured',
  reference: 'reference (same run)',
  ratio: 'ratio',
  target: 'target',
  result: 'result',
};

const COLUMNS = Object.keys(HEADINGS) as (keyof TableRow)[];

export function formatTable(rows: readonly TableRow[]): string {
  const widths = COLUMNS.map((column) =>
    Math.max(...[HEADINGS, ...rows].map((row) => row[column].length)),
  );
  const line = (row: TableRow) =>
    '| ' +
    COLUMNS.map((column, at) => row[column].padEnd(widths[at] ?? 0)).join(
      ' | ',
    ) +
    ' |';
  const rule = '| ' + widths.map((width) => '-'.repeat(width)).join(' | ');
  return [line(HEADINGS), rule + ' |', ...rows.map(line)].join('\n');
}

/** PASS or MISS: whether `value` is within `limit`, either way. */
export function verdict(value: number, limit: number, at: 'most' | 'least') {
  const met = at === 'most' ? value <= limit : value >= limit;
  return met ? 'PASS' : 'MISS';
}

export function ms(value: number): string {
  return `${value.toFixed(value < 100 ? 2 : 0)} ms`;
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

export function perSecond(value: number): string {
  return `${value.toFixed(1)}/s`;
}

export function times(ratio: number): string {
  return `${ratio.toFixed(2)}x`;
}
