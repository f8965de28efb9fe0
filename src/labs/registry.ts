/**
 * The labs, found by name in labs/ (NN-name.ts, compiled beside this tree): adding a
 * chapter is adding a file. Sorted by number, which is the order of the tour.
 */
import { readdirSync } from 'node:fs';
import { LAB_ERR, LabError } from '../errors.js';
import type { LabDefinition } from './types.js';

const LABS_DIR = new URL('../../labs/', import.meta.url);
const LAB_FILE = /^(\d{2})-([a-z0-9-]+)\.js$/;

export async function loadLabs(): Promise<LabDefinition[]> {
  let files: string[];
  try {
    files = readdirSync(LABS_DIR).filter((file) => LAB_FILE.test(file));
  } catch {
    return [];
  }
  const labs = await Promise.all(
    files.map(async (file) => {
      const module = (await import(new URL(file, LABS_DIR).href)) as { lab?: LabDefinition };
      if (module.lab === undefined) throw new Error(`labs/${file} exports no \`lab\``);
      return module.lab;
    }),
  );
  return labs.sort((a, b) => a.number - b.number);
}

/** A lab by id (`backlog-overflow`) or number (`3`). */
export async function findLab(name: string): Promise<LabDefinition> {
  const labs = await loadLabs();
  const lab = labs.find((l) => l.id === name || String(l.number) === name || String(l.number).padStart(2, '0') === name);
  if (lab === undefined) {
    const names = labs.map((l) => `${l.number} ${l.id}`).join(', ');
    throw new LabError(LAB_ERR.UNKNOWN_LAB, `no lab named "${name}": choose one of ${names} (see socketlab labs)`);
  }
  return lab;
}
