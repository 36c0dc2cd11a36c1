/**
 * `npm run bench [-- --quick | --smoke] [--json] [--only <section>]`: every benchmark, each figure printed
 * beside its baseline measured in the same run (or, for the ratchet, a fixed reference named as such).
 */
import { clusterBench } from './cluster.js';
import { durableBench } from './durable.js';
import { fanOutBench } from './fan-out.js';
import { filesBench } from './files.js';
import { groupsBench } from './groups.js';
import { hybridBench } from './hybrid.js';
import { printTable, toJson, type Figure } from './lib/report.js';
import { ratchetBench } from './ratchet.js';
import { relayBench } from './relay.js';
import { webBench } from './web.js';

type Mode = 'full' | 'quick' | 'smoke';
const argv = process.argv.slice(2);
const args = new Set(argv);
const mode: Mode = args.has('--smoke') ? 'smoke' : args.has('--quick') ? 'quick' : 'full';
const json = args.has('--json');
const onlyIndex = argv.indexOf('--only');
const only = onlyIndex >= 0 ? argv[onlyIndex + 1] : undefined;

const sections: Array<[string, string, (mode: Mode) => Promise<Figure[]>]> = [
  ['relay', 'relay throughput and latency vs bare socket.io and ws, memory per connection, logins', relayBench],
  ['durable', 'store-and-forward: durable send rate vs in-memory store, backlog drain vs live routing', durableBench],
  ['hybrid', 'hybrid envelope seal/open per second', hybridBench],
  ['ratchet', 'PQXDH setup and Double Ratchet stream, ping-pong, reverse order, overhead', ratchetBench],
  ['fanout', 'sealing one message for 1, 2 and 5 devices (first message, established) vs bare session-builder calls', fanOutBench],
  ['files', 'file upload and download MiB/s vs cp, peak memory of sender, receiver and server at two sizes', filesBench],
  ['groups', 'MLS: a message to and a commit adding one member to a 50-member group, vs ts-mls alone and pairwise 1:1 sessions; the same through our server vs pairwise sends', groupsBench],
  ['web', "the web app's transfer vs the library alone, send→shown between browser tabs vs CLI chats", webBench],
  ['cluster', 'one node vs three (PostgreSQL + Redis) at the same load: CPU per message, latency', clusterBench],
];

if (args.has('--help') || args.has('-h')) {
  console.log(`Usage: npm run bench -- [--quick | --smoke] [--json] [--only <section>]

  --quick   smaller counts (about a minute)
  --smoke   tiny counts, to check the harness itself (used by npm test)
  --json    the figures as JSON, with Node version and core count, instead of a table
  --only    run one section

Sections:
${sections.map(([name, what]) => `  ${name.padEnd(8)} ${what}`).join('\n')}`);
  process.exit(0);
}

const figures: Figure[] = [];
for (const [name, , run] of sections) {
  if (only && only !== name) continue;
  const t = performance.now();
  process.stderr.write(`running ${name}… `);
  figures.push(...(await run(mode)));
  process.stderr.write(`${((performance.now() - t) / 1000).toFixed(1)} s\n`);
}
if (json) console.log(toJson(figures));
else printTable(figures);
process.exit(0);
