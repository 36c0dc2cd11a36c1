/**
 * Groups (issue 14, Benchmark): a message to a 50-member group and a commit adding one member to it,
 * through our MLS glue (src/e2ee/mls/: device keys behind Ed25519SigningKey, every credential checked
 * against verified device lists, the sender found by its signature key), against
 *  - ts-mls alone, same ciphersuite (83, X-Wing), its own WebCrypto Ed25519 keys and its default
 *    AuthenticationService, with the same MLSMessage encoding: the ratio is our glue's overhead;
 *  - the same message sent pairwise over established 1:1 Double Ratchet sessions (bare session-builder
 *    calls, one per other member): what a group of 50 would cost without MLS.
 *
 * Level: the cryptographic work of one device, in process, no server. The Delivery Service's part, the
 * same group's messages and a commit carried by our real server against pairwise sends, is
 * group-fan-out.ts, run after this with the sizes of the MLS objects made here. Each round times
 * ours and the baseline back to back, so both meet the same machine conditions; medians of rounds.
 *
 * Members are 50 devices of 50 users. A commit's processing is timed on a sample of members (each member's
 * work is the same computation on its own copy of the tree); messages are chained (the sender keeps its
 * new state, every sampled receiver processes each message in order), commits are not adopted, so every
 * round adds the same 51st device to the same 50-member epoch.
 */
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processPrivateMessage,
  type CiphersuiteImpl,
  type ClientState,
  type KeyPackage,
  type PrivateKeyPackage,
  type PrivateMessage,
  type Welcome,
} from 'ts-mls';
import { randomBytes, utf8Encode } from '../src/crypto/bytes.js';
import { installMlKem1024 } from '../src/crypto/mlkem.js';
import { loadLibOqsMlKem1024 } from '../src/crypto/mlkem-liboqs.js';
import { installNodeCrypto } from '../src/crypto/node/node-crypto.js';
import { ed25519SigningKeyFromSeed } from '../src/crypto/signing-key.js';
import { GROUP_CIPHERSUITE_NAME } from '../src/e2ee/mls/ciphersuite.js';
import { commitAdd, createDeviceGroup } from '../src/e2ee/mls/group-commits.js';
import { joinFromWelcome } from '../src/e2ee/mls/group-join.js';
import { encryptGroupMessage, processGroupMessage } from '../src/e2ee/mls/group-messages.js';
import { createDeviceKeyPackage } from '../src/e2ee/mls/key-package.js';
import { buildPreKeyBundle } from '../src/e2ee/pqxdh/bundle.js';
import { LocalIdentity } from '../src/e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateOneTimePreKeys, generateSignedPreKey } from '../src/e2ee/pqxdh/prekeys.js';
import { InMemoryPreKeyStore } from '../src/e2ee/pqxdh/stores.js';
import { decryptMessage, encryptMessage, initiateSession } from '../src/e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../src/e2ee/ratchet/session-record.js';
import { MlsWorld, type TestMlsDevice } from '../test/e2ee/mls/mls-world.js';
import { groupFanOutBench, type GroupWireSizes } from './group-fan-out.js';
import type { Figure } from './lib/report.js';
import { median } from './lib/rounds.js';

/** A chat message's payload as the client would seal it (JSON with ids and times), about 300 bytes. */
const PLAINTEXT = utf8Encode(JSON.stringify({ v: 2, kind: 'message', from: 'u0', fromDevice: 1, id: 'AAAAAAAAAAAAAAAAAAAAAA', sentAt: 1_795_000_000_000, body: 'a'.repeat(200) }));

type Mode = 'full' | 'quick' | 'smoke';

/** The group of ts-mls alone: each member's state, KeyPackage and keys made by ts-mls itself. */
interface BareMember {
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
  state?: ClientState;
}

async function bareMember(cs: CiphersuiteImpl, name: string): Promise<BareMember> {
  const credential = { credentialType: 'basic' as const, identity: utf8Encode(name) };
  const { publicPackage, privatePackage } = await generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], cs);
  return { publicPackage, privatePackage };
}

const encodePrivate = (privateMessage: PrivateMessage) => encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage });
const encodeWelcome = (welcome: Welcome) => encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome });
function decodePrivate(bytes: Uint8Array): PrivateMessage {
  const [m] = decodeMlsMessage(bytes, 0)!;
  if (m.wireformat !== 'mls_private_message') throw new Error('bench: expected a PrivateMessage');
  return m.privateMessage;
}
function decodeWelcome(bytes: Uint8Array): Welcome {
  const [m] = decodeMlsMessage(bytes, 0)!;
  if (m.wireformat !== 'mls_welcome') throw new Error('bench: expected a Welcome');
  return m.welcome;
}

/** Milliseconds of one call. */
async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const value = await f();
  return [performance.now() - t, value];
}

/** One 1:1 session pair, established both ways, as the bare fan-out baseline holds it. */
async function ratchetPair(me: LocalIdentity): Promise<{ mine: SessionRecord; theirs: SessionRecord; open: (m: Uint8Array) => Promise<void> }> {
  const identity = await LocalIdentity.generate(ed25519SigningKeyFromSeed(randomBytes(32)));
  const preKeys = new InMemoryPreKeyStore();
  const signed = await generateSignedPreKey(identity, 1);
  const kem = await generateKemPreKey(identity, 2, 'one-time');
  const [oneTime] = await generateOneTimePreKeys(3, 1);
  await preKeys.saveSignedPreKey(signed);
  await preKeys.saveKemPreKey(kem);
  await preKeys.saveOneTimePreKey(oneTime!);
  const mine = new SessionRecord();
  await initiateSession(mine, buildPreKeyBundle(identity, signed, kem, oneTime), me, { expectedRemoteSigningKey: identity.signingPublicKey });
  const theirs = new SessionRecord();
  const ctx = { identity, preKeys };
  await decryptMessage(theirs, encryptMessage(mine, PLAINTEXT), ctx);
  await decryptMessage(mine, encryptMessage(theirs, PLAINTEXT), { identity: me, preKeys: new InMemoryPreKeyStore() });
  // One more each way leaves the DH ratchet step behind: from here on, sends are symmetric-ratchet steps.
  await decryptMessage(theirs, encryptMessage(mine, PLAINTEXT), ctx);
  return { mine, theirs, open: async (m) => void (await decryptMessage(theirs, m, ctx)) };
}

/** This section: the members' cryptography in process, then the relay carrying objects of the sizes it made. */
export async function groupsBench(mode: Mode): Promise<Figure[]> {
  const crypto = await groupCryptoBench(mode);
  return [...crypto.figures, ...(await groupFanOutBench(mode, crypto.sizes))];
}

/** The figures above, and the sizes of the MLS objects they made, for the server half (group-fan-out.ts). */
async function groupCryptoBench(mode: Mode): Promise<{ figures: Figure[]; sizes: GroupWireSizes }> {
  await installNodeCrypto();
  installMlKem1024(await loadLibOqsMlKem1024());
  const n = { full: { members: 50, rounds: 15, sample: 4 }, quick: { members: 50, rounds: 7, sample: 3 }, smoke: { members: 4, rounds: 1, sample: 2 } }[mode];
  const others = n.members - 1;

  // Ours: n.members users with one device each, plus the newcomer the commit adds.
  const users: Record<string, number> = {};
  for (let i = 0; i <= n.members; i++) users[`u${i}`] = 1;
  const world = await MlsWorld.create(users);
  const ours = world.devices.slice(0, n.members);
  const newcomer = world.devices[n.members]!;
  const [creator, ...joiners] = ours as [TestMlsDevice, ...TestMlsDevice[]];
  creator.state = await createDeviceGroup(creator.mls);
  const packages = await Promise.all(joiners.map((d) => createDeviceKeyPackage(d.mls)));
  const formed = await commitAdd(creator.mls, creator.state, packages.map((p) => p.message));
  creator.state = formed.pendingState;
  for (const [i, joiner] of joiners.entries()) joiner.state = await joinFromWelcome(joiner.mls, formed.welcome!, packages[i]!);

  // ts-mls alone, the same shape.
  const cs = await getCiphersuiteImpl(getCiphersuiteFromName(GROUP_CIPHERSUITE_NAME));
  const bare = await Promise.all(Array.from({ length: n.members + 1 }, (_, i) => bareMember(cs, `u${i}`)));
  const [bareCreator, ...bareJoiners] = bare.slice(0, n.members) as [BareMember, ...BareMember[]];
  const bareNewcomer = bare[n.members]!;
  bareCreator.state = await createGroup(randomBytes(32), bareCreator.publicPackage, bareCreator.privatePackage, [], cs);
  const bareFormed = await createCommit(
    { state: bareCreator.state, cipherSuite: cs },
    { extraProposals: bareJoiners.map((j) => ({ proposalType: 'add' as const, add: { keyPackage: j.publicPackage } })), ratchetTreeExtension: true },
  );
  bareCreator.state = bareFormed.newState;
  for (const joiner of bareJoiners) joiner.state = await joinGroup(bareFormed.welcome!, joiner.publicPackage, joiner.privatePackage, emptyPskIndex, cs);

  // Pairwise: one established session from the sender to each other member.
  const me = await LocalIdentity.generate(ed25519SigningKeyFromSeed(randomBytes(32)));
  const pairs: Array<Awaited<ReturnType<typeof ratchetPair>>> = [];
  for (let i = 0; i < others; i++) pairs.push(await ratchetPair(me));

  const sampled = joiners.slice(0, n.sample);
  const bareSampled = bareJoiners.slice(0, n.sample);
  const newcomerPackage = await createDeviceKeyPackage(newcomer.mls);
  const rows = { send: [] as number[][], receive: [] as number[][], pairwiseSend: [] as number[], pairwiseReceive: [] as number[], commit: [] as number[][], process: [] as number[][], join: [] as number[][] };
  let groupBytes = 0;
  let pairwiseBytes = 0;
  let welcomeBytes = 0;
  let addCommitBytes = 0;

  for (let round = 0; round <= n.rounds; round++) {
    const record = round > 0; // round 0 warms every path up
    // A message: encrypt once, then each sampled member opens it.
    const [sendOurs, sent] = await timed(() => encryptGroupMessage(creator.mls, creator.state!, PLAINTEXT));
    creator.state = sent.state;
    const [sendBare, bareSent] = await timed(async () => {
      const r = await createApplicationMessage(bareCreator.state!, PLAINTEXT, cs);
      return { bytes: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: r.privateMessage }), state: r.newState };
    });
    bareCreator.state = bareSent.state;
    const [sendPairwise, copies] = await timed(async () => pairs.map((p) => encryptMessage(p.mine, PLAINTEXT)));
    groupBytes = sent.message.length;
    pairwiseBytes = copies.reduce((sum, c) => sum + c.length, 0);

    const receiveOurs: number[] = [];
    const receiveBare: number[] = [];
    for (const [i, member] of sampled.entries()) {
      const [ms, result] = await timed(() => processGroupMessage(member.mls, member.state!, sent.message));
      if (result.kind !== 'application') throw new Error(`bench: expected an application message, got ${result.kind}`);
      member.state = result.state;
      receiveOurs.push(ms);
      const bareMemberOf = bareSampled[i]!;
      const [bareMs, bareResult] = await timed(() => processPrivateMessage(bareMemberOf.state!, decodePrivate(bareSent.bytes), emptyPskIndex, cs));
      if (bareResult.kind !== 'applicationMessage') throw new Error('bench: ts-mls did not return the application message');
      bareMemberOf.state = bareResult.newState;
      receiveBare.push(bareMs);
    }
    const [receivePairwise] = await timed(async () => {
      for (let i = 0; i < n.sample; i++) await pairs[i]!.open(copies[i]!);
    });

    // A commit adding the 51st device, made and processed against the same epoch every round.
    const [commitOurs, commit] = await timed(() => commitAdd(creator.mls, creator.state!, [newcomerPackage.message]));
    const [commitBare, bareCommit] = await timed(async () => {
      const r = await createCommit({ state: bareCreator.state!, cipherSuite: cs }, { extraProposals: [{ proposalType: 'add', add: { keyPackage: bareNewcomer.publicPackage } }], ratchetTreeExtension: true });
      if (r.commit.wireformat !== 'mls_private_message') throw new Error('bench: ts-mls made a public commit');
      return { commit: encodePrivate(r.commit.privateMessage), welcome: encodeWelcome(r.welcome!) };
    });
    welcomeBytes = commit.welcome!.length;
    addCommitBytes = commit.commit.length;
    const processOurs: number[] = [];
    const processBare: number[] = [];
    for (const [i, member] of sampled.entries()) {
      const [ms, result] = await timed(() => processGroupMessage(member.mls, member.state!, commit.commit));
      if (result.kind !== 'commit') throw new Error(`bench: expected a commit, got ${result.kind}`);
      processOurs.push(ms);
      const [bareMs] = await timed(() => processPrivateMessage(bareSampled[i]!.state!, decodePrivate(bareCommit.commit), emptyPskIndex, cs));
      processBare.push(bareMs);
    }
    const [joinOurs] = await timed(() => joinFromWelcome(newcomer.mls, commit.welcome!, newcomerPackage));
    const [joinBare] = await timed(() => joinGroup(decodeWelcome(bareCommit.welcome), bareNewcomer.publicPackage, bareNewcomer.privatePackage, emptyPskIndex, cs));

    if (!record) continue;
    rows.send.push([sendOurs, sendBare]);
    rows.receive.push([median(receiveOurs), median(receiveBare)]);
    rows.pairwiseSend.push(sendPairwise);
    rows.pairwiseReceive.push(receivePairwise / n.sample);
    rows.commit.push([commitOurs, commitBare]);
    rows.process.push([median(processOurs), median(processBare)]);
    rows.join.push([joinOurs, joinBare]);
  }

  const size = `${n.members} members`;
  const vsBare = (name: string, rounds: number[][], what: string): Figure => ({
    section: 'groups',
    name: `${name}, ${size} (${what}; median of ${n.rounds} rounds)`,
    value: median(rounds.map((p) => p[0]!)),
    unit: 'ms',
    baseline: { name: 'ts-mls alone, same suite, interleaved', value: median(rounds.map((p) => p[1]!)) },
    ratio: median(rounds.map((p) => p[1]! / p[0]!)),
  });
  const sendOurs = median(rows.send.map((p) => p[0]!));
  const receiveOurs = median(rows.receive.map((p) => p[0]!));
  const sizes: GroupWireSizes = {
    members: n.members,
    keyPackage: packages[0]!.message.length,
    formCommit: formed.commit.length,
    formWelcome: formed.welcome!.length,
    message: groupBytes,
    addCommit: addCommitBytes,
    addWelcome: welcomeBytes,
  };
  const figures = [
    vsBare('group message: send (encrypt once)', rows.send, 'our glue'),
    vsBare('group message: open, per member', rows.receive, `our glue, median of ${n.sample} members`),
    {
      section: 'groups',
      name: `group message: sender's work for ${others} recipients, MLS vs pairwise`,
      value: sendOurs,
      unit: 'ms',
      baseline: { name: `${others} × encryptMessage on established 1:1 sessions`, value: median(rows.pairwiseSend) },
      ratio: median(rows.pairwiseSend) / sendOurs,
    },
    {
      section: 'groups',
      name: 'group message: open, per member, MLS vs 1:1 decrypt',
      value: receiveOurs,
      unit: 'ms',
      baseline: { name: 'decryptMessage on an established 1:1 session', value: median(rows.pairwiseReceive) },
      ratio: median(rows.pairwiseReceive) / receiveOurs,
    },
    {
      section: 'groups',
      name: `group message: bytes the sender uploads for ${others} recipients`,
      value: groupBytes,
      unit: 'B',
      baseline: { name: `${others} pairwise ratchet messages`, value: pairwiseBytes },
      ratio: pairwiseBytes / groupBytes,
    },
    vsBare('commit adding one member: make', rows.commit, 'our glue, KeyPackage checked against its device list'),
    vsBare('commit adding one member: process, per member', rows.process, `our glue, median of ${n.sample} members`),
    vsBare('commit adding one member: newcomer joins from the Welcome', rows.join, `our glue; Welcome ${Math.round(welcomeBytes / 1024)} KiB`),
  ];
  return { figures, sizes };
}
