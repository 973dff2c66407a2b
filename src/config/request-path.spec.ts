import { normalisePath } from './request-path';

describe('normalisePath (the path /api/auth decides on)', () => {
  it.each([
    ['/api/agents/x', '/api/agents/x'],
    ['api/agents/x', '/api/agents/x'],
    ['/api//agents///x/', '/api/agents/x'],
    ['/api/./agents/x', '/api/agents/x'],
    ['/api/other/../agents/x', '/api/agents/x'],
    ['/../../api/agents', '/api/agents'],
    ['/api/%61gents/x', '/api/agents/x'],
    ['/api/agents%2Fx', '/api/agents/x'],
    ['/api/agents/x?y=/../../z', '/api/agents/x'],
    ['/api/agents/x#/../../z', '/api/agents/x'],
    ['/', '/'],
    ['', '/'],
  ])('%j → %j', (raw, expected) => {
    expect(normalisePath(raw)).toBe(expected);
  });

  it.each([
    ['a backslash', '/api\\agents/x'],
    ['an encoded backslash', '/api%5Cagents/x'],
    ['a NUL', '/api/agents\0/x'],
    ['an encoded NUL', '/api/agents%00/x'],
    ['a malformed escape', '/api/%E0%A4%A'],
  ])('refuses %s (undefined: the caller answers 400)', (_what, raw) => {
    expect(normalisePath(raw)).toBeUndefined();
  });
});
