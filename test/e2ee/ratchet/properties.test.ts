/**
 * Property (fast-check): for random interleavings of sends and receives between two parties, with
 * random loss, reordering (always within MAX_SKIP) and replays, every message is accounted for: each one
 * delivered decrypts to exactly what was sent, exactly once (a replay is refused and changes nothing),
 * each one lost is never opened, and at the end each party has opened exactly the messages sent to it
 * that were not lost. Alice's repeated initial messages before Bob's first reply are included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { setupSession, snapshot, type Peer } from './helpers.js';

type Command =
  | { kind: 'send'; from: 0 | 1 }
  | { kind: 'deliver' | 'drop'; to: 0 | 1; pick: number }
  | { kind: 'replay'; to: 0 | 1; pick: number };

const to = fc.constantFrom(0 as const, 1 as const);
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('send' as const), from: to }),
  fc.record({ kind: fc.constant('deliver' as const), to, pick: fc.nat() }),
  fc.record({ kind: fc.constant('deliver' as const), to, pick: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), to, pick: fc.nat() }),
  fc.record({ kind: fc.constant('replay' as const), to, pick: fc.nat() }),
);

interface Sent {
  readonly bytes: Uint8Array;
  readonly text: string;
}

/** Totals over all runs, so the test also shows that the runs exercised each path. */
const totals = { delivered: 0, dropped: 0, replaysRefused: 0 };

describe('Double Ratchet property', () => {
  it('every message is delivered exactly once with its exact text, or lost and never opened, under random interleaving, loss, reordering and replay', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 45 }), async (commands) => {
        const { alice, bob } = await setupSession({ handshake: false });
        const peers: [Peer, Peer] = [alice, bob];
        // Per recipient (index 0 = to alice, 1 = to bob): what is on the wire, what arrived, what was lost.
        const inFlight: [Sent[], Sent[]] = [[], []];
        const delivered: [Sent[], Sent[]] = [[], []];
        const dropped: [Sent[], Sent[]] = [[], []];
        const sentTo: [string[], string[]] = [[], []];
        const opened: [string[], string[]] = [[], []];
        let counter = 0;

        const open = async (recipient: 0 | 1, message: Sent) => {
          const text = await peers[recipient].receive(message.bytes);
          expect(text).toBe(message.text);
          opened[recipient].push(text);
          delivered[recipient].push(message);
        };

        for (const c of commands) {
          if (c.kind === 'send') {
            const sender = peers[c.from];
            if (!sender.record.current?.canSend) continue; // Bob has no session until a message arrives
            const text = `${c.from === 0 ? 'A' : 'B'}#${counter++}`;
            const recipient = c.from === 0 ? 1 : 0;
            inFlight[recipient].push({ bytes: sender.send(text), text });
            sentTo[recipient].push(text);
          } else if (c.kind === 'replay') {
            const done = delivered[c.to];
            if (done.length === 0) continue;
            const again = done[c.pick % done.length]!;
            const before = snapshot(peers[c.to].record);
            await expect(peers[c.to].receive(again.bytes)).rejects.toThrow();
            expect(snapshot(peers[c.to].record)).toBe(before);
            totals.replaysRefused++;
          } else {
            const queue = inFlight[c.to];
            if (queue.length === 0) continue;
            const [message] = queue.splice(c.pick % queue.length, 1);
            if (c.kind === 'drop') dropped[c.to].push(message!);
            else await open(c.to, message!);
          }
        }
        for (const recipient of [0, 1] as const) for (const m of inFlight[recipient].splice(0)) await open(recipient, m);

        for (const recipient of [0, 1] as const) {
          const lost = new Set(dropped[recipient].map((m) => m.text));
          // Exactly once: no text opened twice; the texts opened are exactly those sent and not lost.
          expect(new Set(opened[recipient]).size).toBe(opened[recipient].length);
          expect([...opened[recipient]].sort()).toEqual(sentTo[recipient].filter((t) => !lost.has(t)).sort());
          expect(delivered[recipient].length + dropped[recipient].length).toBe(sentTo[recipient].length);
          totals.delivered += delivered[recipient].length;
          totals.dropped += dropped[recipient].length;
        }
      }),
      { numRuns: 60 },
    );
    // The generator reached every path: deliveries, losses and refused replays all happened.
    expect(totals.delivered).toBeGreaterThan(0);
    expect(totals.dropped).toBeGreaterThan(0);
    expect(totals.replaysRefused).toBeGreaterThan(0);
  }, 60_000);
});
