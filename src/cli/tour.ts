/**
 * `socketlab tour` (and `npm start`): every lab in order, from one request to C100K.
 */
import { loadLabs } from '../labs/registry.js';
import { runLab } from '../labs/runner.js';
import { EXIT } from '../errors.js';
import { noPositionals, parseFlags } from './args.js';
import { LAB_FLAGS_HELP, LAB_OPTIONS, labRunOptions } from './lab.js';
import type { Command } from './command.js';

const USAGE = `Usage: socketlab tour [flags]

The guided tour: every lab in order, climbing from one request to 100,000 connections on
this machine, with a throwaway PostgreSQL started and stopped as the labs need it.
Each lab pauses after each step on a terminal; q quits the tour.

${LAB_FLAGS_HELP}

Example:
  socketlab tour --quick --yes
`;

/** Where the tour leaves the user: the same instruments, on a server of their own. */
const NEXT_STEP = `
Next, on your own server: every layer the tour showed, watched while a ramp finds the first
one that gives way, with its evidence and the lever that moves it:

  npx socketlab diagnose http://127.0.0.1:PORT/your/route --pid PID --html diagnose.html

(loopback only unless you add --allow-remote: a ramp is a load test; see docs/diagnose.md)
`;

export const command: Command = {
  name: 'tour',
  summary: 'the guided tour: every lab in order (what npm start runs)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals, help } = parseFlags('tour', argv, LAB_OPTIONS);
    if (help) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    noPositionals('tour', positionals);
    const options = labRunOptions(values);
    let failed = 0;
    for (const lab of await loadLabs()) {
      const { result, exitCode } = await runLab(lab, { ...options, jsonPath: null });
      if (result.outcome === 'quit' || exitCode !== null) {
        process.stdout.write('\nTour stopped. Run one lab at a time with socketlab lab NAME.\n');
        // A signal or a crash ends the process now (see socketlab lab); q ends the tour only.
        if (exitCode !== null) process.exit(exitCode);
        return EXIT.OK;
      }
      if (result.outcome === 'failed') failed += 1;
    }
    process.stdout.write(`\nTour complete${failed > 0 ? `, ${failed} lab(s) failed (see above)` : ''}. Results are in ${options.resultsDir}/.\n${NEXT_STEP}`);
    return failed > 0 ? EXIT.FAILURE : EXIT.OK;
  },
};
