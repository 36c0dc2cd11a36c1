/** The drain settings (E2EE_CHAT_DRAIN_SECONDS, E2EE_CHAT_DRAIN_NOTICE_SECONDS) as an operator writes them. */
import { describe, expect, it } from 'vitest';
import { loadServerConfig } from '../../src/server/config.js';

describe('drain settings', () => {
  it('default to a 10 s bound and no notice (a node alone has no balancer to warn)', () => {
    expect(loadServerConfig({})).toMatchObject({ drainMs: 10_000, drainNoticeMs: 0 });
  });

  it('take whole seconds, the notice inside the bound', () => {
    expect(loadServerConfig({ E2EE_CHAT_DRAIN_SECONDS: '20', E2EE_CHAT_DRAIN_NOTICE_SECONDS: '3' })).toMatchObject({ drainMs: 20_000, drainNoticeMs: 3_000 });
  });

  it('refuse a notice that would leave no time to move anyone, and a bound of nothing', () => {
    expect(() => loadServerConfig({ E2EE_CHAT_DRAIN_SECONDS: '3', E2EE_CHAT_DRAIN_NOTICE_SECONDS: '3' })).toThrow(
      'E2EE_CHAT_DRAIN_NOTICE_SECONDS must be less than E2EE_CHAT_DRAIN_SECONDS',
    );
    expect(() => loadServerConfig({ E2EE_CHAT_DRAIN_SECONDS: '0' })).toThrow('E2EE_CHAT_DRAIN_SECONDS must be an integer between 1 and 3600, got "0"');
    expect(() => loadServerConfig({ E2EE_CHAT_DRAIN_SECONDS: '2.5' })).toThrow('E2EE_CHAT_DRAIN_SECONDS must be an integer between 1 and 3600, got "2.5"');
  });
});
