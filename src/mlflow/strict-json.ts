import { printParseErrorCode, visit } from 'jsonc-parser';
import { assertJsonDepth } from '../common/json-depth';
import { problem } from '../common/problem';

const STOP = Symbol('strict-json.stop');

/**
 * JSON.parse, refusing what it would silently accept: a key given twice in one object (JSON.parse
 * keeps the last; escapes are decoded first, so `"a\u005fb"` is `"a_b"`), nesting deeper than
 * MAX_JSON_DEPTH (checked first, by the one check every JSON body goes through, so the visitor's
 * recursion never goes deep; MLflow's request messages nest four levels at most), comments and
 * trailing commas. jsonc-parser's visitor walks the text (the tokenizer of VS Code's JSON support:
 * its string unescaping and error positions are what a hand-written scanner would get wrong).
 */
export function parseStrictJson(text: string): unknown {
  assertJsonDepth(text);
  const keys: Array<Set<string>> = [];
  let refusal: string | undefined;
  const stop = (why: string): never => {
    refusal = why;
    throw STOP;
  };
  try {
    visit(
      text,
      {
        onObjectBegin: () => void keys.push(new Set()),
        onObjectProperty: (name) => {
          const seen = keys[keys.length - 1];
          if (seen.has(name)) stop(`the request body gives the key ${JSON.stringify(name.slice(0, 100))} twice in one object`);
          seen.add(name);
        },
        onObjectEnd: () => void keys.pop(),
        onComment: () => stop('the request body is not valid JSON (a comment)'),
        onError: (code) => stop(`the request body is not valid JSON (${printParseErrorCode(code)})`),
      },
      { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
    );
  } catch (err) {
    if (err !== STOP) throw err;
  }
  if (refusal !== undefined) throw problem.badRequest(refusal);
  try {
    return JSON.parse(text);
  } catch {
    throw problem.badRequest('the request body is not valid JSON');
  }
}
