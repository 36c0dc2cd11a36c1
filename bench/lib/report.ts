/** Benchmark results: each figure beside the baseline measured in the same run, as a table or JSON. */
import { cpus } from 'node:os';

export interface Figure {
  section: string;
  name: string;
  value: number;
  unit: string;
  /** The baseline measured in the same run (or a fixed reference, said so in its name). */
  baseline?: { name: string; value: number };
  /** value / baseline (or its inverse for "lower is better"), so > 1 always means "better than baseline". */
  ratio?: number;
  /** What the issue asks for, in words. */
  target?: string;
  met?: boolean;
}

export function ratioOf(value: number, baseline: number, higherIsBetter: boolean): number {
  return higherIsBetter ? value / baseline : baseline / value;
}

const fmt = (n: number) =>
  Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 2, minimumFractionDigits: 0 });

export function environment() {
  return { node: process.version, cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', date: new Date().toISOString() };
}

export function printTable(figures: readonly Figure[]): void {
  const env = environment();
  console.log(`e2ee-chat benchmarks · Node ${env.node} · ${env.cores} cores (${env.cpu}) · ${env.date}`);
  const rows = figures.map((f) => [
    f.section,
    f.name,
    `${fmt(f.value)} ${f.unit}`,
    f.baseline ? `${fmt(f.baseline.value)} ${f.unit} (${f.baseline.name})` : '',
    f.ratio !== undefined ? `${f.ratio.toFixed(2)}×` : '',
    f.target ? `${f.met ? 'met' : 'NOT met'}: ${f.target}` : '',
  ]);
  const header = ['section', 'measure', 'e2ee-chat', 'baseline (same run)', 'ratio', 'target'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

export function toJson(figures: readonly Figure[]): string {
  return JSON.stringify({ environment: environment(), figures }, null, 2);
}
