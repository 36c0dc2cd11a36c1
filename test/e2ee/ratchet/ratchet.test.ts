/**
 * Double Ratchet behaviour (src/e2ee/ratchet/), as properties: forward secrecy, post-compromise
 * security, skipped messages within MAX_SKIP, rejection beyond it, replay and tampering rejection, each
 * rejection leaving the state untouched and the session usable.
 */
import { describe, expect, it } from 'vitest';
import { utf8Decode } from '../../../src/crypto/bytes.js';
import { DecryptionFailedError } from '../../../src/protocol/errors.js';
import { HEADER_LENGTH, MAC_LENGTH, MAX_SKIP } from '../../../src/e2ee/ratchet/constants.js';
import { parseMessage } from '../../../src/e2ee/ratchet/header.js';
import { deepCopy, setupSession, snapshot } from './helpers.js';

function flip(bytes: Uint8Array, index: number): Uint8Array<ArrayBuffer> {
  const out = Uint8Array.from(bytes);
  out[index]! ^= 0x01;
  return out;
}

async function rejects(p: Promise<unknown>): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(DecryptionFailedError);
}

describe('Double Ratchet', () => {
  it('round-trips in both directions, including a DH ratchet step on every turn', async () => {
    const { alice, bob } = await setupSession();
    for (let i = 0; i < 5; i++) {
      expect(await bob.receive(alice.send(`a${i}`))).toBe(`a${i}`);
      expect(await alice.receive(bob.send(`b${i}`))).toBe(`b${i}`);
    }
  });

  it('frames a message as a 41-byte header, whole AES blocks and a 32-byte tag', async () => {
    const { alice } = await setupSession();
    const message = alice.send('x'.repeat(100));
    expect(message).toHaveLength(HEADER_LENGTH + 112 + MAC_LENGTH);
    expect(message[0]).toBe(0x01);
    const { header } = parseMessage(message);
    expect(header.dh).toEqual(alice.record.current!.ratchetPublicKey);
  });

  it('forward secrecy: a deep copy of Bob taken after messages 1..n cannot decrypt any of them again', async () => {
    const { alice, bob } = await setupSession();
    const sent = Array.from({ length: 6 }, (_, i) => alice.send(`m${i}`));
    await bob.receive(sent[3]!); // 0..2 skipped and stored, 3 used
    for (const i of [0, 1, 2, 4, 5]) await bob.receive(sent[i]!); // skipped keys used, then the chain moves on
    const stolen = deepCopy(bob.record);
    for (const m of sent) await rejects(stolen.decrypt(m));
    expect(bob.record.current!.counters.skipped).toBe(0);
  });

  it('post-compromise security: after one round trip with fresh ratchet keys, a leaked state of Alice reads nothing new', async () => {
    const { alice, bob } = await setupSession();
    await bob.receive(alice.send('before the leak'));
    const attacker = deepCopy(alice.record); // everything Alice holds, secrets included
    const b1 = bob.send('inside the compromise window');
    expect(utf8Decode(await attacker.decrypt(b1))).toBe('inside the compromise window'); // the leak is real
    await alice.receive(b1);
    await bob.receive(alice.send('alice ratchets with a fresh key')); // round trip completes
    for (let i = 0; i < 3; i++) {
      const m = bob.send(`after healing ${i}`);
      await rejects(attacker.decrypt(m));
      expect(await alice.receive(m)).toBe(`after healing ${i}`);
    }
  });

  it('decrypts out-of-order and partly lost messages within MAX_SKIP, across chains', async () => {
    const { alice, bob } = await setupSession();
    const first = Array.from({ length: 20 }, (_, i) => alice.send(`first ${i}`));
    await alice.receive(bob.send('turn')); // Alice's next messages start a new chain
    const second = Array.from({ length: 20 }, (_, i) => alice.send(`second ${i}`));
    const order = [...second.map((m, i) => [m, `second ${i}`] as const), ...first.map((m, i) => [m, `first ${i}`] as const)].filter((_, i) => i % 3 !== 0).reverse();
    for (const [m, text] of order) expect(await bob.receive(m)).toBe(text);
  });

  it('rejects a header that skips more than MAX_SKIP keys without touching the state; the session still works', async () => {
    const { alice, bob } = await setupSession();
    const messages = Array.from({ length: MAX_SKIP + 2 }, (_, i) => alice.send(`n${i}`));
    const before = snapshot(bob.record);
    await rejects(bob.receive(messages[MAX_SKIP + 1]!)); // would skip 1001 keys
    expect(snapshot(bob.record)).toBe(before);
    expect(await bob.receive(messages[MAX_SKIP]!)).toBe(`n${MAX_SKIP}`); // exactly MAX_SKIP skipped: allowed
    expect(await bob.receive(messages[MAX_SKIP + 1]!)).toBe(`n${MAX_SKIP + 1}`);
    expect(await bob.receive(messages[7]!)).toBe('n7');
    expect(await alice.receive(bob.send('still fine'))).toBe('still fine');
  });

  it('rejects a replayed message (its key was deleted), in order and out of order, leaving the state unchanged', async () => {
    const { alice, bob } = await setupSession();
    const m0 = alice.send('once');
    const m1 = alice.send('twice');
    await bob.receive(m1);
    await bob.receive(m0);
    for (const m of [m0, m1]) {
      const before = snapshot(bob.record);
      await rejects(bob.receive(m));
      expect(snapshot(bob.record)).toBe(before);
    }
    expect(await bob.receive(alice.send('next'))).toBe('next');
  });

  it('rejects every single flipped byte of header, ciphertext and tag; the state is unchanged and the message still opens', async () => {
    const { alice, bob } = await setupSession();
    const message = alice.send('x'.repeat(100));
    const before = snapshot(bob.record);
    for (let i = 0; i < message.length; i++) {
      await rejects(bob.receive(flip(message, i)));
    }
    await rejects(bob.receive(message.slice(0, message.length - 1)));
    await rejects(bob.receive(message.slice(0, message.length - 16)));
    expect(snapshot(bob.record)).toBe(before);
    expect(await bob.receive(message)).toBe('x'.repeat(100));
    expect(await alice.receive(bob.send('reply'))).toBe('reply');
  });

  it('every decryption failure is a DecryptionFailedError with the cause attached', async () => {
    const { alice, bob } = await setupSession();
    const error = await bob.receive(flip(alice.send('x'), 60)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecryptionFailedError);
    expect((error as DecryptionFailedError).code).toBe('decryption_failed');
    expect((error as DecryptionFailedError).cause).toBeDefined();
  });
});
