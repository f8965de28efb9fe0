/**
 * Flag parsing shared by every subcommand: node:util parseArgs in strict mode, plus the
 * value parsers (durations, rates, sizes, counts) so that every command rejects bad input
 * the same way: one line naming the flag and what it accepts, exit 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from '../errors.js';
import { parseDuration } from '../format/durations.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedFlags {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  help: boolean;
}

/**
 * Parse argv against `options`. Unknown flags and missing values become a usage error
 * that names the command, so `socketlab serve --prot 80` says what went wrong.
 */
export function parseFlags(command: string, argv: string[], options: OptionSpec, allowPositionals = false): ParsedFlags {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    });
    const help = values.help === true;
    delete (values as Record<string, unknown>).help;
    return { values: values as ParsedFlags['values'], positionals, help };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw usageError(`socketlab ${command}: ${message} (see socketlab ${command} --help)`);
  }
}

export function stringFlag(values: ParsedFlags['values'], name: string): string | undefined {
  const value = values[name];
  if (Array.isArray(value)) return value[value.length - 1];
  return typeof value === 'string' ? value : undefined;
}

export function listFlag(values: ParsedFlags['values'], name: string): string[] {
  const value = values[name];
  if (Array.isArray(value)) return value;
  return typeof value === 'string' ? [value] : [];
}

export function booleanFlag(values: ParsedFlags['values'], name: string): boolean {
  return values[name] === true;
}

/** A whole number within [min, max], for counts, ports and sizes. */
export function parseIntegerFlag(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw usageError(`--${name} must be a whole number, got "${text}"`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw usageError(`--${name} must be between ${min} and ${max}, got ${text}`);
  }
  return value;
}

export function parseDurationFlag(name: string, text: string | undefined, fallbackMs: number, bareUnit: 'ms' | 's' = 's'): number {
  if (text === undefined) return fallbackMs;
  const ms = parseDuration(text, bareUnit);
  if (ms === undefined) throw usageError(`--${name} must be a duration like 500ms, 30s or 2m, got "${text}"`);
  return ms;
}

/** A rate such as `1000/s`, `1000`, `60/m`; returned per second. */
export function parseRateFlag(name: string, text: string): number {
  const match = text.match(/^(\d+(?:\.\d+)?)(?:\/(s|m))?$/);
  if (match === null) throw usageError(`--${name} must be a rate like 1000/s, got "${text}"`);
  const perUnit = Number(match[1]);
  const perSecond = match[2] === 'm' ? perUnit / 60 : perUnit;
  if (!(perSecond > 0)) throw usageError(`--${name} must be greater than zero, got "${text}"`);
  return perSecond;
}

/** Reject any positional the command does not take, naming it. */
export function noPositionals(command: string, positionals: string[]): void {
  if (positionals.length > 0) throw usageError(`socketlab ${command}: unexpected argument "${positionals[0]}"`);
}
