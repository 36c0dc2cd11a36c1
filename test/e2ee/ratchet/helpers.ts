/** Two parties with a session established through PQXDH and the session builder, for ratchet tests. */
import { utf8Decode, utf8Encode, type Bytes } from '../../../src/crypto/bytes.js';
import { pickleSessionRecord, unpickleSessionRecord } from '../../../src/e2ee/ratchet/pickle.js';
import { decryptMessage, encryptMessage, initiateSession } from '../../../src/e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../../../src/e2ee/ratchet/session-record.js';
import { makeParty, type Party } from '../pqxdh/fixtures.js';

export interface Peer {
  readonly party: Party;
  record: SessionRecord;
  send(text: string): Bytes;
  receive(message: Uint8Array): Promise<string>;
}

function peer(party: Party, record: SessionRecord): Peer {
  const self: Peer = {
    party,
    record,
    send: (text) => encryptMessage(self.record, utf8Encode(text)),
    receive: async (message) => utf8Decode((await decryptMessage(self.record, message, { identity: party.identity, preKeys: party.preKeys })).plaintext),
  };
  return self;
}

/** Alice initiates with Bob's bundle; with `handshake`, Alice's first message and Bob's reply are delivered. */
export async function setupSession(options: { handshake?: boolean } = {}): Promise<{ alice: Peer; bob: Peer }> {
  const a = await makeParty('alice');
  const b = await makeParty('bob');
  const alice = peer(a, new SessionRecord());
  const bob = peer(b, new SessionRecord());
  await initiateSession(alice.record, b.bundle(), a.identity, { expectedRemoteSigningKey: b.identity.signingPublicKey });
  if (options.handshake !== false) {
    await bob.receive(alice.send('hello bob'));
    await alice.receive(bob.send('hello alice'));
  }
  return { alice, bob };
}

/** A deep copy of a whole session record, through its pickle (what an attacker stealing storage gets). */
export function deepCopy(record: SessionRecord): SessionRecord {
  return unpickleSessionRecord(JSON.parse(JSON.stringify(pickleSessionRecord(record))));
}

export function snapshot(record: SessionRecord): string {
  return JSON.stringify(pickleSessionRecord(record));
}
