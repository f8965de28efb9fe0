/**
 * The names lab 2 and bench/models.ts give the concurrency-models grid: the three routes it
 * measures, and the models' letters and titles in the order they are told.
 */
import { MODEL, type ModelName } from '../models/model.js';

/** The handler time of the CPU-bound route: small enough that thousands fit in a second on one core. */
export const WORK_MS = 2;

export const MODEL_ROUTES = {
  /** Microseconds of compute: what the server itself costs. */
  age: { label: '/age', path: '/age?birthdate=1993-05-01', needsDb: false },
  /** CPU-bound: the handler spins for WORK_MS. */
  work: { label: `/work?ms=${WORK_MS}`, path: `/work?ms=${WORK_MS}`, needsDb: false },
  /** I/O-bound: one PostgreSQL query for a random id of the 1000 seeded. */
  uuid: { label: '/uuid/:id', path: '/uuid/{1..1000}', needsDb: true },
} as const;

export type RouteKey = keyof typeof MODEL_ROUTES;

/** A, B, C: the order the models are told in (thread per connection came first historically). */
export const MODELS_IN_ORDER: readonly ModelName[] = [MODEL.THREAD, MODEL.LOOP, MODEL.POOL];

export const MODEL_LETTERS: Readonly<Record<ModelName, string>> = { thread: 'A', loop: 'B', pool: 'C' };

/** For sentences: "Model A (thread per connection)". */
export const MODEL_TITLES: Readonly<Record<ModelName, string>> = {
  thread: 'Model A (thread per connection)',
  loop: 'Model B (event loop)',
  pool: 'Model C (thread pool)',
};
