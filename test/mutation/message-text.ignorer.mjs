// A Stryker ignorer: mutants that only change the text of a log line or of an error message are not
// generated. The status and reason of a refusal stay mutated (they are what a client sees and a test
// names); only the human-readable detail is left alone:
// - arguments of logger calls (this.log.warn(…), logger.error(…), console.*) and the context name of
//   new Logger('…'),
// - the detail of an AuthFailure (its third argument) and of invalid(detail),
// - the detail of a problem: new ProblemException(status, reason, detail), problem.badRequest(detail),
//   problem.forbidden(reason, detail) and the other problem.* helpers, MLflow's denied(…, reason, detail),
// - the message of new Error(…) / new SomeError(…) whose class name ends in Error,
// - the value of a `detail:` or `message:` property.
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

const LOG_METHODS = new Set(['log', 'debug', 'info', 'warn', 'error', 'verbose', 'fatal', 'trace']);
const LOGGER_OBJECTS = /^(log|logger|console)$/i;

function calleeName(node) {
  if (node.type === 'Identifier') return node.name;
  if (node.type === 'MemberExpression' && node.property.type === 'Identifier') return node.property.name;
  return undefined;
}

function isLoggerCall(call) {
  const callee = call.callee;
  if (callee.type !== 'MemberExpression' || callee.property.type !== 'Identifier' || !LOG_METHODS.has(callee.property.name)) return false;
  const name = calleeName(callee.object);
  return name !== undefined && LOGGER_OBJECTS.test(name);
}

/** The detail argument of each problem.* helper (src/common/problem.ts). */
const PROBLEM_DETAIL = { unauthorized: 1, forbidden: 1, unavailable: 1, badRequest: 0, notFound: 0, badGateway: 0, gatewayTimeout: 0 };

function isProblemHelper(callee) {
  return callee.type === 'MemberExpression' && callee.object.type === 'Identifier' && callee.object.name === 'problem' && callee.property.type === 'Identifier';
}

function messageArgument(parent, node) {
  const index = parent.arguments.indexOf(node);
  if (index < 0) return undefined;
  if (parent.type === 'CallExpression' && isLoggerCall(parent)) return 'log text';
  const name = calleeName(parent.callee);
  if (name === 'AuthFailure' && index === 2) return 'error message text';
  if (name === 'invalid' && index === 0) return 'error message text';
  if (name === 'ProblemException' && index === 2) return 'error message text';
  if (isProblemHelper(parent.callee) && Object.hasOwn(PROBLEM_DETAIL, name) && PROBLEM_DETAIL[name] === index) return 'error message text';
  if (name === 'denied' && index === 3) return 'error message text';
  if (parent.type === 'NewExpression' && name === 'Logger' && index === 0) return 'log text';
  if (parent.type === 'NewExpression' && name !== undefined && /Error$/.test(name) && index === 0) return 'error message text';
  return undefined;
}

export const messageTextIgnorer = {
  shouldIgnore(path) {
    const { node, parent } = path;
    if (!parent) return undefined;
    if ((parent.type === 'CallExpression' || parent.type === 'NewExpression') && parent.arguments) {
      const why = messageArgument(parent, node);
      if (why) return `Only changes ${why}`;
    }
    if (parent.type === 'ObjectProperty' && parent.value === node && !parent.computed) {
      const key = parent.key.type === 'Identifier' ? parent.key.name : parent.key.value;
      if (key === 'detail' || key === 'message') return 'Only changes error message text';
    }
    return undefined;
  },
};

export const strykerPlugins = [declareValuePlugin(PluginKind.Ignore, 'message-text', messageTextIgnorer)];
