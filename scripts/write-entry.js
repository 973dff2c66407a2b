// `node dist/main.js` starts the app: the compiled tree keeps src/ and sandbox/ side by side
// under dist/app, and this entry point forwards to it.
const fs = require('node:fs');
fs.writeFileSync('dist/main.js', "'use strict';\nrequire('./app/src/main');\n");
