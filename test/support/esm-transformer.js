// jest-runtime has its own module loader, which cannot require() ES modules (Node itself can, since 20.19).
// NestJS 12 and a few of its dependencies ship ESM only, so this transformer compiles exactly the
// node_modules files that use ESM syntax to CommonJS with swc, and leaves every CommonJS file untouched.
const swcJest = require('@swc/jest');

const ESM_SYNTAX = /^\s*(import\s*[\w{*'"]|export\s)/m;
const inner = swcJest.createTransformer({
  module: { type: 'commonjs', ignoreDynamic: false },
  jsc: { target: 'es2022', parser: { syntax: 'ecmascript' } },
  sourceMaps: false,
});

module.exports = {
  process(source, filename, options) {
    if (!ESM_SYNTAX.test(source) && !source.includes('import(')) return { code: source };
    // import.meta has no CommonJS equivalent in swc's output: give it the file's URL.
    const patched = source.replace(/\bimport\.meta\.url\b/g, "('file://' + __filename)");
    return inner.process(patched, filename, options);
  },
  getCacheKey(source, filename, ...rest) {
    return 'esm-cjs-3:' + inner.getCacheKey(source, filename, ...rest);
  },
};
