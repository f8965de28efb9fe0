/**
 * The five layers of the load ladder (ARCHITECTURE.md) and which labs tell each one: the
 * docs have one page per layer, built from those labs' results.
 */

export interface Layer {
  number: number;
  /** File name stem: docs/layers/NN-slug.md. */
  slug: string;
  /** The rung: how many concurrent users. */
  users: string;
  question: string;
  /** Lab numbers, in tour order. */
  labs: readonly number[];
}

export const LAYERS: readonly Layer[] = [
  { number: 1, slug: 'one-request', users: 'one request', question: 'what happens between socket() and the JSON?', labs: [1] },
  { number: 2, slug: '0-to-100', users: '0 → 100 users', question: 'thread per connection, event loop, or thread pool?', labs: [2] },
  { number: 3, slug: '100-to-1000', users: '100 → 1,000 users', question: 'what breaks first?', labs: [3, 4] },
  { number: 4, slug: '1000-to-10000', users: '1,000 → 10,000 users', question: 'where is the knee?', labs: [5, 6, 7, 8] },
  { number: 5, slug: '10000-to-100000', users: '10,000 → 100,000+ users', question: 'how far can one box go?', labs: [9] },
];

/**
 * The labs the tour is planned to have, by number: named here so that a page can say "lab 6
 * (knee): no results yet" before that lab's file exists. A lab's own definition, when it is
 * there, wins.
 */
export const PLANNED_LABS: Readonly<Record<number, string>> = {
  1: 'request-cycle',
  2: 'concurrency-models',
  3: 'backlog-overflow',
  4: 'fd-exhaustion',
  5: 'db-pool',
  6: 'knee',
  7: 'ports-and-keepalive',
  8: 'slow-link',
  9: 'all-cores',
};

export function layerFileName(layer: Layer): string {
  return `${String(layer.number).padStart(2, '0')}-${layer.slug}.md`;
}

/** The layer a lab belongs to; labs numbered past the plan go to the last layer. */
export function layerOfLab(labNumber: number): Layer {
  return LAYERS.find((layer) => layer.labs.includes(labNumber)) ?? (LAYERS[LAYERS.length - 1] as Layer);
}
