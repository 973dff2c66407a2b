import { MAX_JSON_DEPTH } from '../common/json-depth';
import { deltaFrame, MAX_MESSAGE_CHARS, parseClientFrame } from './ws-protocol';

describe('parseClientFrame', () => {
  it('accepts a user message', () => {
    expect(parseClientFrame('{"type":"user_message","content":"hi"}')).toEqual({ type: 'user_message', content: 'hi' });
  });

  it.each([
    ['not json', 'a frame must be a JSON object'],
    ['[1]', 'a frame must be a JSON object'],
    ['null', 'a frame must be a JSON object'],
    ['{"type":"delta","content":"x"}', "type must be 'user_message'"],
    ['{"type":"user_message"}', 'content must be a non-empty string'],
    ['{"type":"user_message","content":"   "}', 'content must be a non-empty string'],
    ['{"type":"user_message","content":5}', 'content must be a non-empty string'],
    ['{"type":"user_message","content":"x","model":"other"}', 'only the fields type and content are allowed'],
    [JSON.stringify({ type: 'user_message', content: 'x'.repeat(MAX_MESSAGE_CHARS + 1) }), `content must be at most ${MAX_MESSAGE_CHARS} characters`],
    [`{"type":"user_message","content":"x","n":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`, `a frame nests deeper than ${MAX_JSON_DEPTH} levels`],
  ])('refuses %s', (frame, error) => {
    expect(parseClientFrame(frame)).toEqual({ error });
  });
});

describe('deltaFrame', () => {
  it.each([['plain words '], ['"quotes" and \\ backslashes'], ['\n\r\t\u0000\u001f'], ['\u2028\u2029 é 😀'], ['\ud800 lone surrogate'], ['']])(
    'is the text of JSON.stringify({type, content}) for %j',
    (content) => {
      expect(deltaFrame(content)).toBe(JSON.stringify({ type: 'delta', content }));
      expect(JSON.parse(deltaFrame(content))).toEqual({ type: 'delta', content });
    },
  );
});
