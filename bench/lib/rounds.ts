/** Interleaved timing rounds, shared by the sections that compare a figure with a same-run baseline. */

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Times the subjects in turn, `per` calls of each per round, and returns every round's per-call
 * milliseconds of each (rows: rounds, columns: subjects). This machine's speed drifts within a run;
 * alternating in short rounds makes all of them see the same conditions. With `rotate`, round r starts
 * at subject r (mod their number): where a subject pays for the one before it (a GC pause for its
 * garbage), every subject takes every place in turn instead of one always following the same other.
 */
export async function roundsOf(rounds: number, per: number, subjects: ReadonlyArray<() => Promise<void>>, options: { rotate?: boolean } = {}): Promise<number[][]> {
  const time = async (f: () => Promise<void>) => {
    const t = performance.now();
    for (let i = 0; i < per; i++) await f();
    return (performance.now() - t) / per;
  };
  const out: number[][] = [];
  for (let r = 0; r < rounds; r++) {
    const row: number[] = new Array(subjects.length);
    const start = options.rotate ? r % subjects.length : 0;
    for (let k = 0; k < subjects.length; k++) {
      const s = (start + k) % subjects.length;
      row[s] = await time(subjects[s]!);
    }
    out.push(row);
  }
  return out;
}

/** Median per-call ms of column `s` and `b`, and the median per-round ratio b / s (> 1: s is faster). */
export function compare(rows: number[][], s: number, b: number) {
  return { subjectMs: median(rows.map((r) => r[s]!)), baselineMs: median(rows.map((r) => r[b]!)), ratio: median(rows.map((r) => r[b]! / r[s]!)) };
}
