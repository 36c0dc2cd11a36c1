/**
 * `npm run bench [-- --quick] [-- --json] [-- --only durable]`: every benchmark, each figure printed
 * beside its baseline measured in the same run.
 */
import { durableBench } from './durable.js';
import { printTable, toJson, type Figure } from './lib/report.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex > 0 ? process.argv[onlyIndex + 1] : undefined;

if (args.has('--help') || args.has('-h')) {
  console.log(`Usage: npm run bench -- [--quick] [--json] [--only <section>]

Sections: durable (store-and-forward send rate and backlog drain).
  --quick   smaller counts, under a minute
  --json    print the figures as JSON (with Node version and core count) instead of a table`);
  process.exit(0);
}

const sections: Array<[string, (quick: boolean) => Promise<Figure[]>]> = [['durable', durableBench]];

const figures: Figure[] = [];
for (const [name, run] of sections) {
  if (only && only !== name) continue;
  if (!json) process.stderr.write(`running ${name}…\n`);
  figures.push(...(await run(quick)));
}
if (json) console.log(toJson(figures));
else printTable(figures);
process.exit(0);
