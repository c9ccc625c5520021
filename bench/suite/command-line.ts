/**
 * What the benchmark commands share on their command line: parsing with `--help` and the usage on
 * bad arguments (exit 2), and writing a report under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TARGET_KINDS, type TargetKind } from './targets.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The options' values; `--help` prints the usage and exits 0, a bad argument prints it and exits 2. */
export function parseCommandLine<const T extends Options>(options: T, usage: string): ReturnType<typeof parseArgs<{ options: T }>>['values'] {
  let values: ReturnType<typeof parseArgs<{ options: T }>>['values'];
  try {
    values = parseArgs<{ options: T }>({ options: { ...options, help: { type: 'boolean', default: false } } }).values;
  } catch (error) {
    return usageError((error as Error).message, usage);
  }
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return values;
}

/** Prints what is wrong with the command line and the usage, and exits 2. */
export function usageError(message: string, usage: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

/** `--targets a,b,…` (undefined when absent), or exit 2 with the usage when it names an unknown target. */
export function parseTargets(value: string | undefined, usage: string): TargetKind[] | undefined {
  if (value === undefined) return undefined;
  const targets = value.split(',').map((t) => t.trim()) as TargetKind[];
  if (targets.length === 0 || targets.some((t) => !TARGET_KINDS.includes(t))) {
    usageError(`--targets takes a comma-separated list of ${TARGET_KINDS.join(', ')}`, usage);
  }
  return targets;
}

/** A report's default place: bench/results/<name>. */
export function resultsFile(name: string): string {
  return fileURLToPath(new URL(`../results/${name}`, import.meta.url));
}

/** Writes a report (creating its folder) and says where. */
export function writeReport(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  console.log(`\nwritten to ${file}`);
}
