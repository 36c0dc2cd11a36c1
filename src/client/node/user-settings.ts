/**
 * Node-only: the user's preferences, `settings.json` in the user's folder (beside the keys). Plain JSON:
 * nothing in it is secret, and a person may read or edit it. Versioned, and tolerant of members a later
 * version adds (kept as they are when a setting is changed). A missing file, or a missing member, means
 * the default.
 */
import { z } from 'zod';
import { dirname } from 'node:path';
import { ChatError } from '../../protocol/errors.js';
import { ensurePrivateDir, readJsonFile, withFileLock, writeFileAtomic } from './atomic-file.js';

export interface UserSettings {
  /** Send read receipts for the messages shown to this user (default on). */
  readReceipts: boolean;
}

export const DEFAULT_SETTINGS: Readonly<UserSettings> = { readReceipts: true };

const settingsFileSchema = z
  .object({
    v: z.literal(1),
    readReceipts: z.boolean().optional(),
  })
  .passthrough();

type SettingsFile = z.infer<typeof settingsFileSchema>;

async function readSettingsFile(path: string): Promise<SettingsFile> {
  let raw: unknown;
  try {
    raw = await readJsonFile<unknown>(path);
  } catch (cause) {
    throw new ChatError('bad_request', `${path} is not valid JSON; fix or delete it (deleting it restores the defaults)`, { cause });
  }
  if (raw === undefined) return { v: 1 };
  const parsed = settingsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ChatError('bad_request', `${path}: ${issue?.path.join('.') || 'file'}: ${issue?.message ?? 'invalid'}; fix or delete it (deleting it restores the defaults)`);
  }
  return parsed.data;
}

/** The user's settings: the file's, with defaults for what it does not say. */
export async function readSettings(path: string): Promise<UserSettings> {
  const file = await readSettingsFile(path);
  return { readReceipts: file.readReceipts ?? DEFAULT_SETTINGS.readReceipts };
}

/** Changes settings in the file (under its lock, atomically), keeping every other member; returns the result. */
export async function changeSettings(path: string, change: Partial<UserSettings>): Promise<UserSettings> {
  await ensurePrivateDir(dirname(path));
  return withFileLock(path, async () => {
    const file = { ...(await readSettingsFile(path)), ...change };
    await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
    return readSettings(path);
  });
}
