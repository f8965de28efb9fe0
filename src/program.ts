/**
 * The socketlab program as other processes see it. Labs, benchmarks and tests start
 * `socketlab serve` and `socketlab load` as processes of their own, so that what they measure
 * has its own PID, event loop and descriptors and is started the way a user starts it. What
 * they rely on is this contract, not the CLI's code: where the program is, and the line
 * `serve` prints once it listens. Both ends import it (labs/serve-process.ts reads the line,
 * cli/serve.ts writes it), so the arrow from a lab to the program it runs is in the import
 * graph, while the code stays one-way: a lab never imports the CLI that imports the labs.
 * A leaf: it imports nothing of the project.
 */
import { fileURLToPath } from 'node:url';

/** The compiled CLI, run as `node SOCKETLAB_CLI serve ...`: this file sits beside cli.ts. */
export const SOCKETLAB_CLI = fileURLToPath(new URL('./cli.js', import.meta.url));

/** How a server says it is ready: one line that starts so, then HOST:PORT and key=value pairs (pid=...). */
export const LISTENING_PREFIX = 'listening on http://';
