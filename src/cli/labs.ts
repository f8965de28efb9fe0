/**
 * `socketlab labs`: the chapters, one line each.
 */
import { loadLabs } from '../labs/registry.js';
import { renderTable } from '../format/table.js';
import { EXIT } from '../errors.js';
import { noPositionals, parseFlags } from './args.js';
import type { Command } from './command.js';

const USAGE = `Usage: socketlab labs

List the labs in tour order: number, name, the rung of the load ladder, what it shows.
Run one with socketlab lab NAME, or all of them with socketlab tour.
`;

export const command: Command = {
  name: 'labs',
  summary: 'list the labs, one line each',
  usage: USAGE,
  async run(argv) {
    const { positionals, help } = parseFlags('labs', argv, {});
    if (help) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    noPositionals('labs', positionals);
    const labs = await loadLabs();
    const rows = labs.map((lab) => [String(lab.number), lab.id, lab.layer, lab.summary]);
    process.stdout.write(
      `${renderTable(['#', 'lab', 'users', 'what you will see'], rows, { indent: 0 })}\n\nRun one: socketlab lab NAME [--quick] [--yes]   All: socketlab tour\n`,
    );
    return EXIT.OK;
  },
};
