/**
 * A file name from a peer made safe to create in the user's download folder. The name in a message is
 * the sender's choice, hence an attacker's: it must not name another folder (`../x`, `/etc/x`, `a\b`),
 * hide itself or pose as something else (a leading dot, control and bidi characters, `..`), or be a
 * device name on Windows. What is left is kept as close to the original as that allows.
 */

/** Bytes of UTF-8 a saved name may take: under every common file system's 255, with room for " (12)". */
export const MAX_SAVED_NAME_BYTES = 200;
/** The longest extension kept apart when a name is shortened. */
const MAX_EXTENSION_CHARS = 16;
/** What a name with nothing usable left becomes. */
export const FALLBACK_FILE_NAME = 'file';

/**
 * Path separators, characters Windows refuses, C0 and C1 controls, DEL, and the characters that
 * reorder or split text on a screen (bidi controls, line and paragraph separators).
 */
const UNSAFE = /[/\\<>:"|?*\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

const utf8Length = (text: string): number => new TextEncoder().encode(text).length;

/** Cuts `text` to at most `bytes` of UTF-8 without splitting a character. */
function cutToBytes(text: string, bytes: number): string {
  let out = '';
  for (const ch of text) {
    if (utf8Length(out + ch) > bytes) break;
    out += ch;
  }
  return out;
}

/** `name` split into stem and extension (with its dot): "a.tar.gz" → ["a.tar", ".gz"]; no extension for ".x" or "x". */
export function splitExtension(name: string): [string, string] {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1 || name.length - dot > MAX_EXTENSION_CHARS + 1) return [name, ''];
  return [name.slice(0, dot), name.slice(dot)];
}

/** The name to save a received file under (before any " (1)" for a name already taken). */
export function safeFileName(suggested: string): string {
  // A path keeps its last part only: "../../x.pdf" and "C:\\tmp\\x.pdf" are both "x.pdf".
  const last = suggested.split(/[/\\]/).pop() ?? '';
  let name = last.normalize('NFC').replace(UNSAFE, '_');
  // No hidden files and no "." or "..": leading dots and spaces go, and trailing ones (Windows drops them).
  name = name.replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  if (WINDOWS_DEVICE.test(name)) name = `_${name}`;
  if (utf8Length(name) > MAX_SAVED_NAME_BYTES) {
    const [stem, extension] = splitExtension(name);
    name = cutToBytes(stem, MAX_SAVED_NAME_BYTES - utf8Length(extension)).replace(/[.\s]+$/, '') + extension;
  }
  return name === '' || name.startsWith('.') ? FALLBACK_FILE_NAME : name;
}

/** The `n`th alternative when a name is taken: "report (1).pdf", "report (2).pdf", … */
export function numberedFileName(name: string, n: number): string {
  if (n === 0) return name;
  const [stem, extension] = splitExtension(name);
  return `${stem} (${n})${extension}`;
}
