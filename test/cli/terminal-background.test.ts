/** The terminal's background as COLORFGBG tells it (src/cli/terminal-background.ts). */
import { describe, expect, it } from 'vitest';
import { terminalBackground } from '../../src/cli/terminal-background.js';

describe('terminal background', () => {
  it.each([
    ['0;15', 'light'],
    ['0;7', 'light'],
    ['0;default;15', 'light'],
    ['15;0', 'dark'],
    ['7;8', 'dark'],
    ['15;default;0', 'dark'],
    ['', 'dark'],
    ['nonsense', 'dark'],
  ])('COLORFGBG=%j is a %s background', (value, expected) => {
    expect(terminalBackground({ COLORFGBG: value })).toBe(expected);
  });

  it('is dark when the terminal says nothing', () => {
    expect(terminalBackground({})).toBe('dark');
  });
});
