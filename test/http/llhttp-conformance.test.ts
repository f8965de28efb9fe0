/**
 * Conformance with llhttp 9.4.2 (the parser inside Node) on its own request cases.
 *
 * For every case we must agree with llhttp's verdict (accept / reject / incomplete), the number
 * of complete messages and each message's method, target, version, header fields and body,
 * unless the case is listed in llhttp-differences.ts, in which case it must differ exactly as
 * listed there and in docs/conformance.md. Every case is also parsed split at every offset and
 * byte by byte, and must come out the same as whole.
 *
 * The cases come from ../shared/conformance/llhttp when it exists (and then the committed
 * fixture must equal a fresh extraction), else from test/fixtures/llhttp-cases.json.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { ExpectedMessage, LlhttpCase } from './llhttp-cases.js';
import { DIFFERENCE_KIND, DIFFERENCES, type Difference, type Outcome } from './llhttp-differences.js';
import { buildFixture, FIXTURE_PATH, serializeFixture, SHARED_CASES_DIR, type LlhttpFixture } from './llhttp-fixture.js';
import { parseChunks, type ParseOutcome } from './run-parser.js';
import { feedings, freshCopies } from './split.js';

const DOCS_PATH = fileURLToPath(new URL('../../../docs/conformance.md', import.meta.url));
const HAVE_SHARED = existsSync(SHARED_CASES_DIR);
const COMMITTED: LlhttpFixture = JSON.parse(readFileSync(FIXTURE_PATH, 'utf8')) as LlhttpFixture;
const CASES: LlhttpCase[] = HAVE_SHARED ? buildFixture(SHARED_CASES_DIR).cases : COMMITTED.cases;
const DIFFERENCE_BY_KEY = new Map(DIFFERENCES.map((d) => [d.key, d]));

/** Header values as we give them: trailing OWS trimmed (RFC 9110 §5.5); llhttp spans keep it. */
function trimValues(fields: string[]): string[] {
  return fields.map((field, i) => (i % 2 === 1 ? field.replace(/[ \t]+$/, '') : field));
}

function describeMessage(message: ExpectedMessage): unknown {
  return {
    method: message.method,
    target: message.target,
    version: `${message.versionMajor}.${message.versionMinor}`,
    headers: trimValues(message.headers),
    body: message.body,
    trailers: trimValues(message.trailers),
  };
}

function describeOurs(outcome: ParseOutcome, count: number): unknown[] {
  return outcome.messages.slice(0, count).map((m) => ({
    method: m.method,
    target: m.target,
    version: `1.${m.versionMinor}`,
    headers: m.headers,
    // llhttp reports no body as an empty one; a CONNECT's body is never read by either.
    body: m.body ?? '',
    trailers: m.trailers ?? [],
  }));
}

/** null when we agree with llhttp on this case, else what differs. */
function disagreement(ours: ParseOutcome, expected: LlhttpCase['expected']): string | null {
  const want = expected.messages.map(describeMessage);
  // After an upgrade llhttp hands the connection over: only the messages before it compare.
  const got = describeOurs(ours, expected.verdict === 'upgrade' ? want.length : ours.messages.length);
  try {
    assert.deepEqual(got, want);
  } catch {
    return `messages differ: ours ${JSON.stringify(got)}, llhttp ${JSON.stringify(want)} (our error: ${ours.error})`;
  }
  if (expected.finish !== null && (expected.finish === 0) === ours.midMessage) return `finish: llhttp ${expected.finish}, our midMessage ${ours.midMessage}`;
  switch (expected.verdict) {
    case 'accept':
      if (ours.error !== null || ours.midMessage) return `llhttp accepts; ours ${ours.error ?? 'waits for more'}`;
      return null;
    case 'incomplete':
      if (ours.error !== null || !ours.midMessage) return `llhttp waits for more; ours ${ours.error ?? 'complete'}`;
      return null;
    case 'reject':
    case 'h2-preface':
      return ours.error === null ? `llhttp rejects (${expected.error?.reason}); ours accepts` : null;
    case 'upgrade':
      return null;
  }
}

function outcomeOf(parsed: ParseOutcome): Outcome {
  return { messages: parsed.messages.length, error: parsed.error };
}

/** Parse whole, then at every split and byte by byte: all must agree. Returns the whole-input outcome. */
function parseEveryWay(input: Buffer, requireHost: boolean): ParseOutcome {
  const whole = parseChunks([input], {}, { requireHost });
  for (const { label, chunks } of feedings(input)) {
    assert.deepEqual(parseChunks(freshCopies(chunks), {}, { requireHost }), whole, `${label} differs from the whole input`);
  }
  return whole;
}

/** Rows of the tables in docs/conformance.md: `| file.md | heading | ours | why |`, by case key. */
function documentedRows(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of readFileSync(DOCS_PATH, 'utf8').split('\n')) {
    const row = /^\| `([a-z-]+\.md)` \| (.+?) \|(?: (.*)|$)/.exec(line);
    if (row) rows.set(`${row[1] as string}#${row[2] as string}`, row[3] ?? '');
  }
  return rows;
}

const tally = { agreed: 0, host: 0, stricter: 0, lenientMode: 0, skipped: 0 };

function checkCase(c: LlhttpCase, difference: Difference | undefined): void {
  const input = Buffer.from(c.input, 'latin1');
  const ours = parseEveryWay(input, true);
  if (difference === undefined) {
    const problem = disagreement(ours, c.expected);
    assert.equal(problem, null, `${c.key}: ${problem} (not listed in llhttp-differences.ts)`);
    tally.agreed++;
    return;
  }
  if (difference.kind === DIFFERENCE_KIND.SKIPPED) {
    tally.skipped++;
    return;
  }
  assert.deepEqual(outcomeOf(ours), difference.ours, `${c.key}: our outcome is not the documented one`);
  assert.notEqual(disagreement(ours, c.expected), null, `${c.key}: listed as a difference but agrees with llhttp`);
  const withoutHost = parseEveryWay(input, false);
  if (difference.kind === DIFFERENCE_KIND.HOST) {
    const problem = disagreement(withoutHost, c.expected);
    assert.equal(problem, null, `${c.key}: with the Host rule off we should agree, but ${problem}`);
    tally.host++;
    return;
  }
  assert.deepEqual(outcomeOf(withoutHost), difference.withoutHost ?? difference.ours, `${c.key}: outcome without the Host rule`);
  assert.notEqual(disagreement(withoutHost, c.expected), null, `${c.key}: agrees with llhttp once the Host rule is off: list it as kind host`);
  if (difference.kind === DIFFERENCE_KIND.STRICTER) tally.stricter++;
  else tally.lenientMode++;
}

describe('llhttp conformance', () => {
  it('the committed fixture equals a fresh extraction of ../shared', {
    skip: HAVE_SHARED ? false : '../shared/conformance/llhttp is not here (clean clone): using the committed fixture',
  }, () => {
    assert.equal(serializeFixture(COMMITTED), serializeFixture(buildFixture(SHARED_CASES_DIR)), 'regenerate: node dist/test/http/llhttp-fixture.js --write');
  });

  it('lists only real cases, each once, and docs/conformance.md lists the same ones', () => {
    const keys = new Set(CASES.map((c) => c.key));
    assert.equal(keys.size, CASES.length, 'case keys are unique');
    for (const d of DIFFERENCES) assert.ok(keys.has(d.key), `llhttp-differences.ts names no case: ${d.key}`);
    assert.equal(DIFFERENCE_BY_KEY.size, DIFFERENCES.length, 'a case is listed twice');
    const rows = documentedRows();
    assert.deepEqual([...rows.keys()].sort(), DIFFERENCES.map((d) => d.key).sort(), 'docs/conformance.md and llhttp-differences.ts list different cases');
    for (const d of DIFFERENCES) {
      // Host-only rows are a bare list; the others state our outcome, which must be the listed one.
      if (d.kind !== DIFFERENCE_KIND.HOST) assert.ok(rows.get(d.key)?.includes(String(d.ours.error)), `docs/conformance.md states another outcome for ${d.key}`);
    }
  });

  describe('cases', () => {
    for (const c of CASES) it(c.key, () => checkCase(c, DIFFERENCE_BY_KEY.get(c.key)));
  });

  it('accounts for every case', (t) => {
    const { agreed, host, stricter, lenientMode, skipped } = tally;
    t.diagnostic(
      `llhttp cases: ${CASES.length} total (${HAVE_SHARED ? '../shared' : 'fixture'}); agreed ${agreed}; documented differences ${host + stricter + lenientMode} (Host rule ${host}, stricter ${stricter}, lenient modes given the strict verdict ${lenientMode}); skipped ${skipped}`,
    );
    assert.equal(agreed + host + stricter + lenientMode + skipped, CASES.length);
  });
});
