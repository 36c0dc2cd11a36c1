/**
 * Property (fast-check): for random interleavings of sends and receives between two parties, with
 * random loss and reordering (always within MAX_SKIP), every delivered message decrypts to exactly what
 * was sent, including Alice's repeated initial messages before Bob's first reply.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { setupSession, type Peer } from './helpers.js';

type Command = { kind: 'send'; from: 0 | 1 } | { kind: 'deliver' | 'drop'; to: 0 | 1; pick: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('send' as const), from: fc.constantFrom(0 as const, 1 as const) }),
  fc.record({ kind: fc.constant('deliver' as const), to: fc.constantFrom(0 as const, 1 as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('deliver' as const), to: fc.constantFrom(0 as const, 1 as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), to: fc.constantFrom(0 as const, 1 as const), pick: fc.nat() }),
);

describe('Double Ratchet property', () => {
  it('all delivered messages decrypt correctly under random interleaving, loss and reordering', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 45 }), async (commands) => {
        const { alice, bob } = await setupSession({ handshake: false });
        const peers: [Peer, Peer] = [alice, bob];
        const inFlight: [{ bytes: Uint8Array; text: string }[], { bytes: Uint8Array; text: string }[]] = [[], []]; // [to alice, to bob]
        let counter = 0;
        let delivered = 0;
        for (const c of commands) {
          if (c.kind === 'send') {
            const sender = peers[c.from];
            if (!sender.record.current?.canSend) continue; // Bob has no session until a message arrives
            const text = `${c.from === 0 ? 'A' : 'B'}#${counter++}`;
            inFlight[c.from === 0 ? 1 : 0].push({ bytes: sender.send(text), text });
          } else {
            const queue = inFlight[c.to];
            if (queue.length === 0) continue;
            const [message] = queue.splice(c.pick % queue.length, 1);
            if (c.kind === 'drop') continue;
            expect(await peers[c.to].receive(message!.bytes)).toBe(message!.text);
            delivered++;
          }
        }
        for (const to of [0, 1] as const) for (const m of inFlight[to]) expect(await peers[to].receive(m.bytes)).toBe(m.text);
        return delivered >= 0;
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});
