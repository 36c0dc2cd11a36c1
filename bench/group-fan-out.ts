/**
 * Groups through the server (issue 14, Benchmark): what our relay costs to take one group message and
 * get it to every other member device, against getting the same bytes to the same devices pairwise, in
 * the same run on the same server. bench/groups.ts measures the members' cryptography in process; this
 * is the Delivery Service's half (src/server/group-handlers.ts, group-delivery.ts, the stores' group
 * tables; docs/PROTOCOL.md §22), our real server as its own process (SQLite), driven over the wire.
 *
 * Setup, all through the server's real events: M users register with protocol 2 (device 1 each); every
 * member but the creator uploads a KeyPackage, the creator claims them (`mls.keypackages.claim`), creates
 * the group and commits the other M − 1 in (`group.commit` with their Welcome); each joiner gets its
 * `group.welcome` and settles it. The server reads no MLS, so every MLS object is random bytes of the
 * size the crypto half of this section made in the same run (`GroupWireSizes`).
 *
 * Figures, ours against its baseline on the same server, interleaved round by round:
 *  - a group message of the size bench/groups.ts's MLS message has (476 B at 50 members), and of 1 KiB:
 *    one `group.send`, against M − 1 protocol-2 `send`s of one ratchet envelope each to the same devices
 *    (each recipient has one device, so a `send` carries one copy, §19.7). The pairwise copies carry the
 *    same bytes, rounded up to whole AES blocks as a ratchet message must be (§7.6.1). For each size:
 *    server CPU per message and per delivered copy; latency from the send to the LAST of the M − 1
 *    recipients (p50, p99 over every message); bytes the sender uploads per message (its WebSocket
 *    frames as engine.io writes them, the pairwise sender's receipt acknowledgements included: group
 *    deliveries owe no receipts, §22.4);
 *  - a commit adding an (M + 1)th device (commit and Welcome of the sizes bench/groups.ts made): server
 *    CPU and latency to the last of the M − 1 members and the newcomer's Welcome, against a `group.send`
 *    of the commit's bytes to the same members, i.e. what the Welcome, the membership change and the
 *    epoch step add to carrying the commit. A second commit removes the newcomer after each measured one
 *    (untimed), so every measured commit adds to an M-member group. The claim of the newcomer's
 *    KeyPackage, which a real adder makes first, is not in the figure.
 *
 * One message at a time, as people write: a message is done when every recipient has it and its `ack`
 * was answered, and, pairwise, when the sender's receipts for it were acknowledged too. So each message's
 * server work falls inside its own interval, nothing of one message is left for the next, and the figure
 * is the cost of a message, not of a batch. Server CPU comes from /proc (server-process.ts `cpuNanos`,
 * every thread of the server process) before and after each round of messages; figures are medians of
 * rounds and ratios medians of per-round ratios, the subjects' order rotating round by round
 * (bench/lib/rounds.ts). This process is the load generator (the sender and the M − 1 recipients).
 * Read the latencies knowing that, as of this writing, the server pushes a 1:1 copy once its write is
 * committed and answers after the fsync (§7.6), but pushes a group entry only after the fsync
 * (group-handlers.ts settles once the store's write has resolved): the figures take both as they are.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { base64urlEncode, randomBytes } from '../src/crypto/bytes.js';
import type { GroupAddress } from '../src/protocol/group-schemas.js';
import { MAX_GROUP_MESSAGE_BYTES } from '../src/protocol/limits.js';
import { call } from '../test/helpers/test-clients.js';
import { withConcurrency } from './lib/load-clients.js';
import { registeredDevice, uploadCounter, type DeviceConnection } from './lib/protocol2-devices.js';
import type { Figure } from './lib/report.js';
import { median } from './lib/rounds.js';
import { cpuNanos, startServerProcess } from './lib/server-process.js';
import { newClientId } from './lib/wire-client.js';
import { percentile } from './relay.js';

/** The MLS objects the relay carries, in bytes, as the crypto half of this section made them. */
export interface GroupWireSizes {
  /** Member devices of the group, the creator included. */
  members: number;
  keyPackage: number;
  /** The creator's first commit, adding every other member, and its Welcome. */
  formCommit: number;
  formWelcome: number;
  /** An application message carrying a chat payload. */
  message: number;
  /** A commit adding one device to the formed group, and its Welcome. */
  addCommit: number;
  addWelcome: number;
}

type Mode = 'full' | 'quick' | 'smoke';

/** The second message size: a longer chat message. */
const KIB = 1024;

/** Random bytes of an MLS object's size, base64url (node:crypto: WebCrypto gives at most 64 KiB at a time). */
const opaque = (bytes: number) => nodeRandomBytes(bytes).toString('base64url');

/** A Double Ratchet envelope of at least `bytes` bytes, of a shape the server accepts (§7.6.1): 0x01, header, whole AES blocks, tag. */
function ratchetEnvelope(bytes: number) {
  const body = randomBytes(73 + 16 * Math.max(1, Math.ceil((bytes - 73) / 16)));
  body[0] = 0x01;
  return { type: 'ratchet' as const, v: 1 as const, body: base64urlEncode(body) };
}

interface Want {
  /** Pushes to the recipients (`group.message`, `group.welcome` or `message`), each settled with `ack`. */
  deliveries: number;
  /** Answers to the sender's own events. */
  answers: number;
  /** Receipts owed to the sender, each acknowledged with `ack.receipts`. */
  receipts: number;
}

const WAVE_TIMEOUT_MS = 30_000;

const NOTHING: Want = { deliveries: 0, answers: 0, receipts: 0 };

/** The one message in flight: what it waits for, counted from every connection's events. */
class Wave {
  private want: Want = NOTHING;
  private got = { deliveries: 0, settled: 0, answers: 0, receipts: 0, receiptsSettled: 0 };
  private started = 0;
  private lastDeliveryMs = 0;
  private finish?: { resolve: () => void; reject: (e: Error) => void };

  /** Runs `send`; resolves, once everything it wants has come, with the ms from `send` to the last delivery. */
  async run(want: Want, send: () => void): Promise<number> {
    this.want = want;
    this.got = { deliveries: 0, settled: 0, answers: 0, receipts: 0, receiptsSettled: 0 };
    const done = new Promise<void>((resolve, reject) => (this.finish = { resolve, reject }));
    // A message that never completes is a miscount or a server fault: say which count fell short.
    const stuck = setTimeout(() => this.fail(new Error(`bench: a message still waits after ${WAVE_TIMEOUT_MS} ms: want ${JSON.stringify(want)}, got ${JSON.stringify(this.got)}`)), WAVE_TIMEOUT_MS);
    this.started = performance.now();
    send();
    try {
      await done;
    } finally {
      clearTimeout(stuck);
    }
    return this.lastDeliveryMs;
  }

  delivered(): void {
    if (++this.got.deliveries === this.want.deliveries) this.lastDeliveryMs = performance.now() - this.started;
    if (this.got.deliveries > this.want.deliveries) this.fail(new Error(`bench: ${this.got.deliveries} deliveries of a message that has ${this.want.deliveries} recipients`));
    this.check();
  }
  settled(n: number): void {
    this.got.settled += n;
    this.check();
  }
  answered(): void {
    this.got.answers++;
    this.check();
  }
  receipted(n: number): void {
    this.got.receipts += n;
    this.check();
  }
  receiptsSettled(n: number): void {
    this.got.receiptsSettled += n;
    this.check();
  }
  fail(e: Error): void {
    this.finish?.reject(e);
    this.finish = undefined;
  }

  private check(): void {
    const { got, want } = this;
    const complete =
      got.deliveries === want.deliveries && got.settled === want.deliveries && got.answers === want.answers && got.receipts === want.receipts && got.receiptsSettled === want.receipts;
    if (complete && this.finish) {
      this.finish.resolve();
      this.finish = undefined;
    }
  }
}

/** Acknowledges ids in one `ack` per turn of the event loop, as our client batches; `done` gets the count once answered. */
function batchedAck(socket: Socket, wave: Wave, list: 'ids' | 'receipts', done: (n: number) => void): (id: string) => void {
  let pending: string[] = [];
  return (id) => {
    if (pending.length === 0) {
      setImmediate(() => {
        const ids = pending;
        pending = [];
        socket.emit('ack', { [list]: ids }, (a: { ok: boolean; error?: { code: string } }) => (a.ok ? done(ids.length) : wave.fail(new Error(`bench: ack refused: ${a.error?.code}`))));
      });
    }
    pending.push(id);
  };
}

/** Every push a device gets counts as a delivery of the message in flight and is settled; receipts likewise. */
function listen(device: DeviceConnection, wave: Wave): void {
  const ack = batchedAck(device.socket, wave, 'ids', (n) => wave.settled(n));
  for (const event of ['group.message', 'group.welcome', 'message']) {
    device.socket.on(event, (m: { id: string }) => {
      wave.delivered();
      ack(m.id);
    });
  }
  const ackReceipt = batchedAck(device.socket, wave, 'receipts', (n) => wave.receiptsSettled(n));
  const onReceipts = (receipts: Array<{ id: string }>) => {
    wave.receipted(receipts.length);
    for (const r of receipts) ackReceipt(r.id);
  };
  device.socket.on('receipts', (b: { receipts: Array<{ id: string }> }) => onReceipts(b.receipts));
  device.socket.on('receipt', (r: { id: string }) => onReceipts([r]));
}

/** The sender's event, answered into the wave (and its answer handed to `then`). */
function emitInto(wave: Wave, socket: Socket, event: string, payload: unknown, then?: (a: Record<string, unknown>) => void): void {
  socket.emit(event, payload, (a: { ok: boolean; error?: { code: string; message: string } } & Record<string, unknown>) => {
    if (!a.ok) return wave.fail(new Error(`bench: ${event} refused: ${a.error?.code} ${a.error?.message}`));
    then?.(a);
    wave.answered();
  });
}

async function ok(socket: Socket, event: string, payload: unknown): Promise<Record<string, unknown>> {
  const a = await call(socket, event, payload);
  if (!a.ok) throw new Error(`bench: ${event} refused: ${a.error?.code} ${a.error?.message}`);
  return a;
}

/** One subject's measurements: per round, server CPU (µs) and upload (bytes) per message; every latency. */
interface Series {
  cpu: number[];
  upload: number[];
  latencies: number[];
}
const series = (): Series => ({ cpu: [], upload: [], latencies: [] });

export async function groupFanOutBench(mode: Mode, sizes: GroupWireSizes): Promise<Figure[]> {
  const n = {
    full: { rounds: 7, per: 40, warm: 10, commitRounds: 7, commitsPer: 4 },
    quick: { rounds: 5, per: 24, warm: 5, commitRounds: 5, commitsPer: 3 },
    smoke: { rounds: 1, per: 2, warm: 1, commitRounds: 1, commitsPer: 1 },
  }[mode];
  const others = sizes.members - 1;
  // The server's defaults: forming the group claims 49 KeyPackages at once and the commit rounds a few
  // more, within the default claim budget (100 per requester) a real creator has.
  const server = await startServerProcess({ E2EE_CHAT_STORE: 'sqlite' });
  const devices: DeviceConnection[] = [];
  try {
    devices.push(...(await withConcurrency(sizes.members + 1, 10, (i) => registeredDevice(server.url, `gf${i}`))));
    const [creator, ...rest] = devices as [DeviceConnection, ...DeviceConnection[]];
    const joiners = rest.slice(0, others);
    const newcomer = rest[others]!;
    const wave = new Wave();
    for (const d of devices) listen(d, wave);
    const uploaded = uploadCounter(creator.socket);
    const cpuMicros = () => cpuNanos(server.pid) / 1000;

    // The group, formed as §22 has it: KeyPackages uploaded and claimed, created, every other member committed in.
    await withConcurrency(joiners.length, 10, (i) => ok(joiners[i]!.socket, 'mls.keypackages.upload', { packages: [opaque(sizes.keyPackage)] }));
    await ok(newcomer.socket, 'mls.keypackages.upload', { packages: [], lastResort: opaque(sizes.keyPackage) });
    await withConcurrency(joiners.length, 10, (i) => ok(creator.socket, 'mls.keypackages.claim', { user: joiners[i]!.address.user, listVersion: 1 }));
    await ok(creator.socket, 'mls.keypackages.claim', { user: newcomer.address.user, listVersion: 1 });
    const groupId = base64urlEncode(randomBytes(32));
    await ok(creator.socket, 'group.create', { groupId });
    let epoch = 0;
    const adopt = (a: Record<string, unknown>) => void (epoch = a.epoch as number);
    const form = { groupId, epoch, commit: opaque(sizes.formCommit), welcome: opaque(sizes.formWelcome), add: joiners.map((j) => j.address), remove: [] as GroupAddress[] };
    await wave.run({ ...NOTHING, deliveries: others, answers: 1 }, () => emitInto(wave, creator.socket, 'group.commit', form, adopt));

    // Messages: one group.send against M − 1 sends, at two sizes.
    const groupMessage = (bytes: number) => async () => {
      const payload = { groupId, epoch, message: opaque(bytes) };
      return wave.run({ ...NOTHING, deliveries: others, answers: 1 }, () => emitInto(wave, creator.socket, 'group.send', payload));
    };
    const pairwiseMessage = (bytes: number) => async () => {
      const payloads = joiners.map((j) => ({ id: newClientId(), messages: [{ to: j.address.user, device: j.address.device, envelope: ratchetEnvelope(bytes) }] }));
      return wave.run({ deliveries: others, answers: others, receipts: others }, () => {
        for (const p of payloads) emitInto(wave, creator.socket, 'send', p);
      });
    };
    const messageSizes = [sizes.message, KIB];
    const subjects = messageSizes.flatMap((bytes) => [groupMessage(bytes), pairwiseMessage(bytes)]);
    const results = subjects.map(series);
    for (const subject of subjects) for (let i = 0; i < n.warm; i++) await subject();
    for (let r = 0; r < n.rounds; r++) {
      for (let k = 0; k < subjects.length; k++) {
        const s = (r + k) % subjects.length;
        const [cpu0, up0] = [cpuMicros(), uploaded()];
        for (let i = 0; i < n.per; i++) results[s]!.latencies.push(await subjects[s]!());
        results[s]!.cpu.push((cpuMicros() - cpu0) / n.per);
        results[s]!.upload.push((uploaded() - up0) / n.per);
      }
    }

    // Commits: adding the newcomer (then removing it, untimed), against a group.send of the commit's bytes.
    const carried = Math.min(sizes.addCommit, MAX_GROUP_MESSAGE_BYTES);
    const add = async () => {
      const payload = { groupId, epoch, commit: opaque(sizes.addCommit), welcome: opaque(sizes.addWelcome), add: [newcomer.address], remove: [] };
      const cpu0 = cpuMicros();
      const latency = await wave.run({ ...NOTHING, deliveries: others + 1, answers: 1 }, () => emitInto(wave, creator.socket, 'group.commit', payload, adopt));
      const cpu = cpuMicros() - cpu0;
      const removal = { groupId, epoch, commit: opaque(sizes.addCommit), add: [], remove: [newcomer.address] };
      await wave.run({ ...NOTHING, deliveries: others + 1, answers: 1 }, () => emitInto(wave, creator.socket, 'group.commit', removal, adopt));
      return { cpu, latency };
    };
    const sendCommitBytes = async () => {
      const cpu0 = cpuMicros();
      const latency = await groupMessage(carried)();
      return { cpu: cpuMicros() - cpu0, latency };
    };
    const commitSubjects = [add, sendCommitBytes];
    const commitResults = commitSubjects.map(series);
    for (const subject of commitSubjects) await subject(); // warm-up
    for (let r = 0; r < n.commitRounds; r++) {
      for (let k = 0; k < commitSubjects.length; k++) {
        const s = (r + k) % commitSubjects.length;
        let cpu = 0;
        for (let i = 0; i < n.commitsPer; i++) {
          const one = await commitSubjects[s]!();
          cpu += one.cpu;
          commitResults[s]!.latencies.push(one.latency);
        }
        commitResults[s]!.cpu.push(cpu / n.commitsPer);
      }
    }

    return [...messageSizes.flatMap((bytes, i) => messageFigures(bytes, results[2 * i]!, results[2 * i + 1]!, sizes.members, n.rounds)), ...commitFigures(sizes, carried, commitResults[0]!, commitResults[1]!, n.commitRounds)];
  } finally {
    for (const d of devices) d.socket.close();
    await server.stop();
  }
}

/** Median of per-round ratios baseline / ours: > 1 means ours costs less. */
const roundRatio = (ours: number[], baseline: number[]) => median(ours.map((o, r) => baseline[r]! / o));

function messageFigures(bytes: number, group: Series, pairwise: Series, members: number, rounds: number): Figure[] {
  const others = members - 1;
  const what = `group message via our server, ${members} members, ${bytes} B`;
  const baselineName = `${others} protocol-2 sends of one ratchet envelope, same server, interleaved`;
  const figure = (measure: string, value: number, baseline: number, ratio: number, unit: string): Figure => ({
    section: 'groups',
    name: `${what}: ${measure}`,
    value,
    unit,
    baseline: { name: baselineName, value: baseline },
    ratio,
  });
  const p = (s: Series, q: number) => percentile(s.latencies, q);
  return [
    figure(`server CPU per message (median of ${rounds} rounds)`, median(group.cpu), median(pairwise.cpu), roundRatio(group.cpu, pairwise.cpu), 'µs'),
    figure(`server CPU per delivered copy (÷ ${others})`, median(group.cpu) / others, median(pairwise.cpu) / others, roundRatio(group.cpu, pairwise.cpu), 'µs'),
    figure(`p50 send → last of ${others} recipients`, p(group, 50), p(pairwise, 50), p(pairwise, 50) / p(group, 50), 'ms'),
    figure(`p99 send → last of ${others} recipients`, p(group, 99), p(pairwise, 99), p(pairwise, 99) / p(group, 99), 'ms'),
    figure('bytes the sender uploads per message', median(group.upload), median(pairwise.upload), median(pairwise.upload) / median(group.upload), 'B'),
  ];
}

function commitFigures(sizes: GroupWireSizes, carried: number, add: Series, send: Series, rounds: number): Figure[] {
  const others = sizes.members - 1;
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const what = `commit adding one device to a ${sizes.members}-device group via our server (commit ${kib(sizes.addCommit)}, Welcome ${kib(sizes.addWelcome)})`;
  const baselineName = `group.send of ${kib(carried)} to the same ${others} members, interleaved`;
  return [
    { section: 'groups', name: `${what}: server CPU (median of ${rounds} rounds)`, value: median(add.cpu), unit: 'µs', baseline: { name: baselineName, value: median(send.cpu) }, ratio: roundRatio(add.cpu, send.cpu) },
    {
      section: 'groups',
      name: `${what}: p50 commit → last of ${others} members and the Welcome`,
      value: percentile(add.latencies, 50),
      unit: 'ms',
      baseline: { name: baselineName, value: percentile(send.latencies, 50) },
      ratio: percentile(send.latencies, 50) / percentile(add.latencies, 50),
    },
  ];
}
