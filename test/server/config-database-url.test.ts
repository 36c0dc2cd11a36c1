/** E2EE_CHAT_DATABASE_URL and E2EE_CHAT_STORE together: which store, and clear refusals that never repeat the password. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadServerConfig } from '../../src/server/config.js';

const URL_WITH_PASSWORD = 'postgres://chat:hunter2-secret@db.example:5432/chat';

function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadServerConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('server configuration: the PostgreSQL store', () => {
  it('selects PostgreSQL when a database URL is set, and SQLite when none is', () => {
    expect(loadServerConfig({ E2EE_CHAT_DATABASE_URL: URL_WITH_PASSWORD })).toMatchObject({ store: 'postgres', databaseUrl: URL_WITH_PASSWORD });
    expect(loadServerConfig({ E2EE_CHAT_DATABASE_URL: URL_WITH_PASSWORD, E2EE_CHAT_STORE: 'postgres' })).toMatchObject({ store: 'postgres' });
    expect(loadServerConfig({ E2EE_CHAT_DATABASE_URL: 'postgresql://db/chat?sslmode=require' })).toMatchObject({ store: 'postgres' });
    const sqlite = loadServerConfig({});
    expect(sqlite.store).toBe('sqlite');
    expect(sqlite).not.toHaveProperty('databaseUrl');
  });

  it.each([
    ['a libpq keyword string', { E2EE_CHAT_DATABASE_URL: 'host=db user=chat password=hunter2-secret' }, /is not a URL/],
    ['another scheme', { E2EE_CHAT_DATABASE_URL: 'mysql://chat:hunter2-secret@db/chat' }, /must start with postgres:\/\/ or postgresql:\/\/, got "mysql:\/\/"/],
    ['no database', { E2EE_CHAT_DATABASE_URL: 'postgres://chat:hunter2-secret@db.example:5432/' }, /names no database/],
    ['store postgres without a URL', { E2EE_CHAT_STORE: 'postgres' }, /E2EE_CHAT_STORE=postgres needs E2EE_CHAT_DATABASE_URL/],
    ['a URL with store memory', { E2EE_CHAT_DATABASE_URL: URL_WITH_PASSWORD, E2EE_CHAT_STORE: 'memory' }, /E2EE_CHAT_STORE is "memory"/],
    ['an unknown store', { E2EE_CHAT_STORE: 'mongo' }, /"sqlite", "memory" or "postgres"/],
  ])('refuses %s, naming the fix and not the password', (_case, env, message) => {
    const err = refusal(env);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('hunter2-secret');
  });
});
