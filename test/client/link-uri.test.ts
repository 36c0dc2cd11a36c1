/** The URI the new device's QR code carries (src/client/link-uri.ts; docs/design/devices-v2.md §6.1). */
import { describe, expect, it } from 'vitest';
import { linkUri } from '../../src/client/link-uri.js';

describe('link URI', () => {
  it('names the user and the code as printed', () => {
    expect(linkUri('alice', { slot: '417', secret: 'K7QM9TZC' })).toBe('e2ee-chat:link?user=alice&code=417-K7QM-9TZC');
  });

  it('percent-encodes a name that could otherwise add or hide a query member', () => {
    const uri = linkUri('a&code=1-AAAA-AAAA#x', { slot: '417', secret: 'K7QM9TZC' });
    expect(uri).toBe('e2ee-chat:link?user=a%26code%3D1-AAAA-AAAA%23x&code=417-K7QM-9TZC');
    const query = new URLSearchParams(uri.slice(uri.indexOf('?') + 1));
    expect([...query.keys()]).toEqual(['user', 'code']);
    expect(query.get('user')).toBe('a&code=1-AAAA-AAAA#x');
  });

  it('refuses a code that is not canonical rather than carry another form of it', () => {
    expect(() => linkUri('alice', { slot: '0417', secret: 'K7QM9TZC' })).toThrow(RangeError);
    expect(() => linkUri('alice', { slot: '417', secret: 'k7qm9tzc' })).toThrow(RangeError);
  });
});
