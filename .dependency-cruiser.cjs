/**
 * The architecture of src/ as checks (ARCHITECTURE.md; issue 15), run by `npm run check:deps`
 * before the tests. Folders form a one-way graph (README.md, "How it is built", lists them in
 * import order); the leaves (format/, results/, errors.ts, program.ts) import nothing of the project;
 * the composition root (serve.ts) and the entry point (cli.ts) sit at the top, and only the
 * CLI imports them.
 *
 * Type-only imports count (tsPreCompilationDeps): a type is a dependency of the design even
 * when the compiler erases it; server.ts and connection.ts formed a cycle through one.
 */

/** A module at the top of src/ (cli.ts, serve.ts, errors.ts, program.ts), not in a folder. */
const TOP_LEVEL = '^src/[^/]+\\.ts$';
/** Top-level modules every folder may import: they import nothing of the project. */
const TOP_LEAVES = '^src/(errors|program)\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycle',
      severity: 'error',
      comment: 'Folders form a one-way graph: a folder that can reach itself through its imports cannot be understood or changed alone.',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-file-cycle',
      severity: 'error',
      comment: 'No module reaches itself through its imports (connection.ts and server.ts used to import each other).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'http-is-pure',
      severity: 'error',
      comment: 'http/ is bytes in, requests or error codes out: it imports nothing of the project.',
      from: { path: '^src/http/' },
      to: { path: '^src/', pathNot: '^src/http/' },
    },
    {
      name: 'format-is-a-leaf',
      severity: 'error',
      comment: 'format/ (tables, numbers, bytes, durations) is used by every folder, so it imports none of them.',
      from: { path: '^src/format/' },
      to: { path: '^src/', pathNot: '^src/format/' },
    },
    {
      name: 'results-is-a-leaf',
      severity: 'error',
      comment: 'results/ is the lab-result schema that labs write and report/ draws: it imports nothing of the project.',
      from: { path: '^src/results/' },
      to: { path: '^src/', pathNot: '^src/results/' },
    },
    {
      name: 'top-leaves-are-leaves',
      severity: 'error',
      comment: 'errors.ts and program.ts are imported from everywhere: they import nothing of the project.',
      from: { path: TOP_LEAVES },
      to: { path: '^src/' },
    },
    {
      name: 'app-knows-no-sockets-or-models',
      severity: 'error',
      comment: 'app/ says what each route answers; where it runs (models/) and how bytes arrive (server/) are not its business.',
      from: { path: '^src/app/' },
      to: { path: '^src/(server|models)/' },
    },
    {
      name: 'server-knows-no-routes',
      severity: 'error',
      comment: 'server/ owns sockets and is handed a RequestHandler: it knows neither the routes (app/) nor where they run (models/).',
      from: { path: '^src/server/' },
      to: { path: '^src/(app|models)/' },
    },
    {
      name: 'load-and-metrics-below-server-and-cli',
      severity: 'error',
      comment: 'The load generator and the metrics are used by the server, the labs and the CLI: they import none of them.',
      from: { path: '^src/(load|metrics)/' },
      to: { path: ['^src/(server|cli)/', '^src/cli\\.ts$'] },
    },
    {
      name: 'top-is-imported-by-cli-only',
      severity: 'error',
      comment:
        'The composition root (serve.ts) and the entry point (cli.ts) sit at the top: only the CLI may import them. ' +
        'A lab that needs a server runs the program as a process (labs/serve-process.ts through program.ts).',
      from: { path: '^src/', pathNot: '^src/cli(/|\\.ts$)' },
      to: { path: TOP_LEVEL, pathNot: TOP_LEAVES },
    },
    {
      name: 'src-imports-no-tests-benches-or-labs',
      severity: 'error',
      comment: 'src/ is what ships: test/, bench/ and the lab chapters in labs/ use it, never the other way round.',
      from: { path: '^src/' },
      to: { path: '^(test|bench|labs)/' },
    },
    {
      name: 'report-draws-results-not-labs',
      severity: 'error',
      comment: 'report/ draws the typed, versioned results schema (results/), never the labs that produce results.',
      from: { path: '^src/report/' },
      to: { path: '^src/labs/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing fails at run time.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Packages resolve through their "exports" (piscina, pg), as Node resolves them.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
    moduleSystems: ['es6'],
  },
};
