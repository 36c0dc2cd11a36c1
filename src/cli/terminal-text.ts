/**
 * Text from other people, made safe to print: a message body must not be able to start a new line that
 * looks like another sender's, move the cursor, set the window title or reorder text with bidi controls.
 * Such characters are shown as visible escapes (\n, \u{1b}) instead.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\u{${c.codePointAt(0)!.toString(16)}}`;
  });
}
