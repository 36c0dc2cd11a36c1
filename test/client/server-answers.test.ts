/** parseAnswer: how the client reads an ack, whatever the server put in it. */
import { describe, expect, it } from 'vitest';
import { parseAnswer } from '../../src/client/server-connection.js';
import { ChatError } from '../../src/protocol/errors.js';
import { MAX_SERVER_ERROR_MESSAGE_CHARS } from '../../src/protocol/server-event-schemas.js';

function codeOf(work: () => unknown): string {
  try {
    work();
  } catch (err) {
    if (err instanceof ChatError) return err.code;
    throw err;
  }
  throw new Error('expected a ChatError');
}

describe('parseAnswer', () => {
  it('turns a refusal into the ChatError it names, with its text cut to a bound', () => {
    let error: ChatError | undefined;
    try {
      parseAnswer('send', { ok: false, error: { code: 'quota_exceeded', message: 'q'.repeat(10_000) } });
    } catch (err) {
      error = err as ChatError;
    }
    expect(error?.code).toBe('quota_exceeded');
    expect(error?.message).toHaveLength(MAX_SERVER_ERROR_MESSAGE_CHARS);
  });

  it('refuses what is neither a valid answer nor a valid refusal as bad_response', () => {
    for (const ack of [undefined, null, 0, 'ok', [], { ok: 'true' }, { ok: false }, { ok: false, error: { code: 'made_up', message: '' } }, { ok: true }]) {
      expect(codeOf(() => parseAnswer('send', ack)), JSON.stringify(ack)).toBe('bad_response');
    }
  });

  it('drops unknown members, and reads a malformed advisory file limit in a login answer as absent', () => {
    expect(parseAnswer('ack', { ok: true, acknowledged: 3, extra: 'x' })).toEqual({ ok: true, acknowledged: 3 });
    const limits = { maxEnvelopeBytes: 65536, maxDevicesPerUser: 6, maxEnvelopesPerSend: 11 };
    const session = { ok: true, username: 'bob', device: 1, protocol: 2, registered: false };
    // The envelope cap is not advisory in protocol 2: an answer without a believable one is malformed.
    expect(codeOf(() => parseAnswer('login', { ...session, limits: { ...limits, maxEnvelopeBytes: -1 } }))).toBe('bad_response');
    expect(parseAnswer('login', { ...session, limits, extra: 1 })).toEqual({ ...session, limits });
    // A malformed file limit reads as absent without taking the envelope limit with it.
    expect(parseAnswer('login', { ...session, limits: { ...limits, maxAttachmentBytes: 'lots' } }).limits).toEqual(limits);
    expect(parseAnswer('login', { ...session, limits: { ...limits, maxAttachmentBytes: 0 } }).limits).toEqual({ ...limits, maxAttachmentBytes: 0 });
  });

});
