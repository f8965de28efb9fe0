/**
 * A second reporter for `npm test`: one line per test file as it ends, with how long the file
 * took, so that every run shows where the suite's time goes (it must stay well within 10
 * minutes on 2 cores). Lines are printed as files finish, never after the summary: CI reads
 * the runner's closing lines. `grep '^time '` collects them; `sort -k2 -n` ranks them.
 */
import path from 'node:path';

interface TestEvent {
  type: string;
  data: { nesting?: number; name?: string; file?: string; details?: { duration_ms?: number } };
}

export default async function* reportFileTimes(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  for await (const event of source) {
    if (event.type !== 'test:complete') continue;
    const { nesting, name, file, details } = event.data;
    if (nesting !== 0 || file === undefined || name === undefined) continue;
    // Each file is itself reported as a test named after it (its absolute path on Node 20,
    // the path as given on later versions), timed from its process's start to its exit.
    if (path.resolve(name) !== path.resolve(file)) continue;
    const seconds = ((details?.duration_ms ?? 0) / 1000).toFixed(1);
    yield `time ${seconds.padStart(6)} s  ${path.relative(process.cwd(), file)}\n`;
  }
}
