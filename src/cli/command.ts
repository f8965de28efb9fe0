/** What every subcommand module exports as `command`. */
export interface Command {
  /** The word after `socketlab`. */
  name: string;
  /** One line for `socketlab --help`. */
  summary: string;
  /** The full `socketlab NAME --help` text: usage line, flags with defaults, an example. */
  usage: string;
  /** Runs the command and resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}
