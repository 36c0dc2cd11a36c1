/** E2EE_CHAT_REDIS_URL and the cluster's timings: checked before anything connects, never repeating a password. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY_POLL_MS, DEFAULT_PRESENCE_LEASE_MS } from '../../src/server/cluster/cluster-limits.js';
import { redactedRedisUrl } from '../../src/server/cluster/redis-connection.js';
import { ConfigError, loadServerConfig } from '../../src/server/config.js';

function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadServerConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('server configuration: Redis', () => {
  it('takes a redis:// or rediss:// URL, and leaves one node alone without it', () => {
    expect(loadServerConfig({ E2EE_CHAT_REDIS_URL: 'redis://:hunter2-secret@cache.example:6380/2' })).toMatchObject({ redisUrl: 'redis://:hunter2-secret@cache.example:6380/2' });
    expect(loadServerConfig({ E2EE_CHAT_REDIS_URL: 'rediss://cache.example' })).toMatchObject({ redisUrl: 'rediss://cache.example' });
    const single = loadServerConfig({});
    expect(single).not.toHaveProperty('redisUrl');
    expect(single).toMatchObject({ deliveryPollMs: DEFAULT_DELIVERY_POLL_MS, presenceLeaseMs: DEFAULT_PRESENCE_LEASE_MS });
    expect(loadServerConfig({ E2EE_CHAT_DELIVERY_POLL_MS: '250', E2EE_CHAT_PRESENCE_LEASE_MS: '5000' })).toMatchObject({ deliveryPollMs: 250, presenceLeaseMs: 5000 });
  });

  it.each([
    ['not a URL', { E2EE_CHAT_REDIS_URL: '//:hunter2-secret@cache.example:6379' }, /E2EE_CHAT_REDIS_URL is not a URL/],
    ['another scheme', { E2EE_CHAT_REDIS_URL: 'http://:hunter2-secret@cache.example' }, /must start with redis:\/\/ or rediss:\/\/, got "http:\/\/"/],
    ['a path that is no database number', { E2EE_CHAT_REDIS_URL: 'redis://:hunter2-secret@cache.example/chat' }, /the path must be a database number/],
    ['a poll of 10 ms', { E2EE_CHAT_DELIVERY_POLL_MS: '10' }, /E2EE_CHAT_DELIVERY_POLL_MS must be an integer between 100 and 600000/],
    ['a lease under a second', { E2EE_CHAT_PRESENCE_LEASE_MS: '500' }, /E2EE_CHAT_PRESENCE_LEASE_MS must be an integer between 1000/],
  ])('refuses %s, naming the fix and not the password', (_case, env, message) => {
    const err = refusal(env);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('hunter2-secret');
  });

  it('logs where Redis is without the user name and password', () => {
    expect(redactedRedisUrl('redis://chat:hunter2-secret@cache.example:6380/2')).toBe('redis://cache.example:6380/2');
    expect(redactedRedisUrl('redis://:hunter2-secret@cache.example')).toBe('redis://cache.example');
  });
});
