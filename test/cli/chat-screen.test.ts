/**
 * The chat screen's input line against fake streams: printing above a partly typed line redraws the
 * prompt, the partial input and the cursor; lines arriving in one chunk are one entry; Ctrl-C, Ctrl-D and
 * the end of piped input leave.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ChatScreen } from '../../src/cli/chat-screen.js';

const ESC = '\u001b';
/** One turn of the event loop: readline handles a chunk synchronously, the screen submits on the next turn. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function screen(terminal: boolean) {
  const input = new PassThrough();
  const output = new PassThrough();
  let written = '';
  output.setEncoding('utf8').on('data', (chunk: string) => (written += chunk));
  const submitted: string[] = [];
  let quits = 0;
  const s = new ChatScreen({ input, output, terminal, prompt: '> ' }, { submit: (t) => submitted.push(t), quit: () => quits++ });
  return {
    s,
    input,
    submitted,
    quits: () => quits,
    /** What was written since the last call. */
    take: async () => {
      await turn();
      const text = written;
      written = '';
      return text;
    },
  };
}

describe('ChatScreen in a terminal', () => {
  it('prints a line above the input line and redraws the prompt with what the user was typing', async () => {
    const t = screen(true);
    t.input.write('hel');
    await t.take();
    t.s.print('[12:00] <bob> hi');
    // Clear the row, column 1, the line, then readline's redraw: prompt, partial input, cursor after it.
    expect(await t.take()).toBe(`${ESC}[2K${ESC}[1G[12:00] <bob> hi\n${ESC}[1G${ESC}[0J> hel${ESC}[6G`);
    t.input.write('lo\r');
    await turn();
    expect(t.submitted).toEqual(['hello']);
  });

  it('keeps the cursor where the user left it inside the partial input', async () => {
    const t = screen(true);
    t.input.write(`hel${ESC}[D`); // left arrow: the cursor sits on the "l"
    await t.take();
    t.s.print('news');
    expect(await t.take()).toBe(`${ESC}[2K${ESC}[1Gnews\n${ESC}[1G${ESC}[0J> hel${ESC}[5G`);
    // Typed key by key, as a person does: the next key lands at the cursor, not at the end.
    t.input.write('p');
    t.input.write('\r');
    await turn();
    expect(t.submitted).toEqual(['hepl']);
  });

  it('a pasted block (several lines in one chunk) is one entry with newlines; lines typed one by one are separate', async () => {
    const t = screen(true);
    t.input.write('one\rtwo\r\rthree\r');
    await turn();
    t.input.write('alone\r');
    await turn();
    expect(t.submitted).toEqual(['one\ntwo\n\nthree', 'alone']);
  });

  it('Alt-Enter (Esc then CR) ends a line without sending it; Enter sends the lines as one entry', async () => {
    const t = screen(true);
    t.input.write(`first${ESC}\r`);
    // The line moves above as typed; the input line starts empty after the continuation prompt.
    expect(await t.take()).toContain(`${ESC}[2K${ESC}[1G> first\n${ESC}[1G${ESC}[0J... ${ESC}[5G`);
    // The cursor inside the line does not cut it: the whole line joins the message.
    t.input.write(`secXnd${ESC}[D${ESC}[D${ESC}[D${ESC}\r`);
    expect(await t.take()).toContain(`... secXnd\n`);
    t.input.write('third\r');
    await turn();
    expect(t.submitted).toEqual(['first\nsecXnd\nthird']);
    // Back to the normal prompt: the next Enter sends one line.
    t.input.write('alone\r');
    await turn();
    expect(t.submitted).toEqual(['first\nsecXnd\nthird', 'alone']);
    expect(await t.take()).toMatch(new RegExp(`${ESC}\\[0J> (${ESC}\\[\\d+G)?$`));
  });

  it('Ctrl-C and Ctrl-D leave', async () => {
    const c = screen(true);
    c.input.write('\u0003');
    await turn();
    expect(c.quits()).toBe(1);
    const d = screen(true);
    d.input.write('\u0004');
    await turn();
    expect(d.quits()).toBe(1);
  });
});

describe('ChatScreen on a pipe', () => {
  it('prints plain lines (no prompt, no escapes) and gathers the lines of one chunk into one entry', async () => {
    const t = screen(false);
    t.s.print('[12:00] <bob> hi');
    expect(await t.take()).toBe('[12:00] <bob> hi\n');
    t.input.write('a\nb\n');
    await turn();
    t.input.write('\n\nc\n\n');
    await turn();
    expect(t.submitted).toEqual(['a\nb', 'c']);
  });

  it('at the end of input, a block still being gathered is submitted before leaving', async () => {
    const t = screen(false);
    t.input.end('x\ny');
    await turn();
    expect(t.submitted).toEqual(['x\ny']);
    expect(t.quits()).toBe(1);
  });
});
