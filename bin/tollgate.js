#!/bin/sh
':' //; export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX-2}"; exec node --max-semi-space-size=4 --heap-growing-percent=50 ${TOLLGATE_NODE_FLAGS-} "$0" "$@"
// Run as a program (npx tollgate, npm start, ./bin/tollgate.js), the shell line above starts Node
// with the memory settings the gateway is sized for: a young generation of 4 MB semi-spaces
// instead of V8's 16 MB, and the old generation allowed to grow 50 % past what the last full
// collection kept before the next one, and glibc's malloc held to two arenas unless
// MALLOC_ARENA_MAX is set (see docs/deployment.md, "Memory"). Node itself reads the
// shell line as a string and a comment. `node bin/tollgate.js` runs with V8's defaults instead.
import '../dist/cli/index.js';
