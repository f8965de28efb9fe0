/**
 * llhttp's request test cases (markdown, test/request/*.md of llhttp 9.4.2) turned into data:
 * the input bytes and llhttp's verdict on them. Only data is taken, never prose.
 *
 * A case is a heading, an HTML comment `<!-- meta={...} -->`, a fenced `http` block (the input)
 * and a fenced `log` block (llhttp's callbacks). The input is rebuilt exactly as llhttp's own
 * runner does (README.md there): drop one trailing newline; join lines that end with a
 * backslash; turn line breaks into CRLF; turn the escapes \r \n \t \f \xHH \ooo into bytes;
 * evaluate ${...}. Spans in the log are read back from the input by offset and length, so the
 * expected values are exact bytes, whatever the log's own quoting.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ExpectedMessage {
  method: string;
  target: string;
  versionMajor: number;
  versionMinor: number;
  /** Flat [name, value, ...] in latin1 (one char per byte), values as llhttp spans them. */
  headers: string[];
  trailers: string[];
  /** latin1 */
  body: string;
  /** llhttp's flags at headers complete, as printed (hex). */
  flags: string;
  contentLength: number;
}

/**
 * accept: every message completed; incomplete: the input ends inside a message; reject: an
 * error; upgrade: llhttp stopped after the last message because the connection changes protocol
 * (CONNECT or Upgrade), so what follows is not HTTP; h2-preface: llhttp stopped at an HTTP/2
 * connection preface.
 */
export type Verdict = 'accept' | 'incomplete' | 'reject' | 'upgrade' | 'h2-preface';

export interface LlhttpCase {
  /** `file#heading`, with " (2)" etc. when a heading repeats in a file. */
  key: string;
  file: string;
  heading: string;
  meta: Record<string, unknown>;
  /** The input bytes as a latin1 string (one char per byte). */
  input: string;
  expected: {
    verdict: Verdict;
    /** Completed messages, in order. */
    messages: ExpectedMessage[];
    error: { code: number; reason: string } | null;
    /** llhttp_finish()'s result for request-finish cases: 0 safe, otherwise not. */
    finish: number | null;
  };
}

/** The case files, in a stable order. */
export function listCaseFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.md') && name !== 'README.md')
    .sort();
}

export function extractCases(dir: string): LlhttpCase[] {
  const cases: LlhttpCase[] = [];
  for (const file of listCaseFiles(dir)) cases.push(...extractFile(file, readFileSync(join(dir, file), 'utf8')));
  return cases;
}

export function extractFile(file: string, text: string): LlhttpCase[] {
  const lines = text.split('\n');
  const cases: LlhttpCase[] = [];
  const seen = new Map<string, number>();
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const headingMatch = /^#{2,6}\s+(.*?)\s*$/.exec(line);
    if (headingMatch) {
      heading = headingMatch[1] as string;
      continue;
    }
    const metaMatch = /^<!--\s*meta=(\{.*\})\s*-->\s*$/.exec(line);
    if (!metaMatch) continue;
    const meta = JSON.parse(metaMatch[1] as string) as Record<string, unknown>;
    const http = readFence(lines, i + 1, 'http');
    const log = readFence(lines, http.next, 'log');
    i = log.next - 1;
    const count = (seen.get(heading) ?? 0) + 1;
    seen.set(heading, count);
    const key = `${file}#${heading}${count > 1 ? ` (${count})` : ''}`;
    const input = buildInput(http.body);
    cases.push({ key, file, heading, meta, input: input.toString('latin1'), expected: readLog(log.body, input) });
  }
  return cases;
}

/** The content of the next fenced block tagged `tag`, each line with its newline. */
function readFence(lines: string[], from: number, tag: string): { body: string; next: number } {
  let i = from;
  while (i < lines.length && (lines[i] as string).trim() !== `\`\`\`${tag}`) i++;
  if (i >= lines.length) throw new Error(`no \`\`\`${tag} block after line ${from}`);
  let body = '';
  for (i++; i < lines.length && (lines[i] as string).trim() !== '```'; i++) body += `${lines[i] as string}\n`;
  return { body, next: i + 1 };
}

/** llhttp's runner steps, in its order (see the file comment). */
export function buildInput(block: string): Buffer {
  let text = block.endsWith('\n') ? block.slice(0, -1) : block;
  text = text.replace(/\\\n/g, '');
  text = text.replace(/\n/g, '\r\n');
  text = text.replace(/\$\{([^}]*)\}/g, (_, expression: string) => String(new Function(`return (${expression});`)()));
  const bytes: number[] = [];
  const pushText = (part: string): void => {
    for (const byte of Buffer.from(part, 'utf8')) bytes.push(byte);
  };
  const escapeSequence = /\\(?:([rntf])|x([0-9a-fA-F]{2})|([0-7]{1,3}))/g;
  let last = 0;
  for (let match = escapeSequence.exec(text); match !== null; match = escapeSequence.exec(text)) {
    pushText(text.slice(last, match.index));
    // An escape stands for the character with that code; like the rest of the text it is then
    // UTF-8 encoded, so \xff becomes C3 BF. That is what llhttp's runner feeds (its log offsets
    // prove it: "255 ASCII in header value" spans 8 bytes for "\xffValue2"), whatever its
    // README's shorthand says; readLog checks every span against the log to keep this honest.
    const code =
      match[1] !== undefined ? { r: 13, n: 10, t: 9, f: 12 }[match[1] as 'r' | 'n' | 't' | 'f'] : parseInt((match[2] ?? match[3]) as string, match[2] !== undefined ? 16 : 8);
    pushText(String.fromCharCode(code & 0xff));
    last = match.index + match[0].length;
  }
  pushText(text.slice(last));
  return Buffer.from(bytes);
}

/** llhttp's error codes that are not rejections but hand the connection over. */
const PAUSED_UPGRADE = 22;
const PAUSED_H2_UPGRADE = 23;

function readLog(log: string, input: Buffer): LlhttpCase['expected'] {
  const messages: ExpectedMessage[] = [];
  let current: (ExpectedMessage & { done: boolean; headersDone: boolean }) | null = null;
  let field = '';
  let value = '';
  let error: { code: number; reason: string } | null = null;
  let finish: number | null = null;
  const span = (offset: number, length: number): string => input.subarray(offset, offset + length).toString('latin1');
  for (const line of log.split('\n')) {
    if (line.trim() === '') continue;
    const event = /^off=(\d+|NULL) (.*)$/.exec(line);
    if (!event) throw new Error(`unreadable log line: ${line}`);
    const rest = event[2] as string;
    const spanMatch = /^len=(\d+) span\[(\w+)\]=/.exec(rest);
    if (spanMatch) {
      if (current === null) throw new Error(`span outside a message: ${line}`);
      const text = span(Number(event[1]), Number(spanMatch[1]));
      // The log shows each span as UTF-8 text with \t \r \n \f escaped: the bytes taken by
      // offset must read the same, or the input was rebuilt differently from llhttp's.
      const shown = rest.slice(spanMatch[0].length);
      const rendered = JSON.stringify(Buffer.from(text, 'latin1').toString('utf8')).slice(1, -1);
      const expectedShown = `"${rendered.replace(/\\(["\\])/g, '$1')}"`;
      // (A lone CR or LF is shown bare, as cr or lf.)
      const bare = text === '\r' ? 'cr' : text === '\n' ? 'lf' : null;
      if (shown !== expectedShown && shown !== bare) throw new Error(`span bytes do not match the log: ${line} (got ${expectedShown})`);
      switch (spanMatch[2]) {
        case 'method':
          current.method += text;
          break;
        case 'url':
          current.target += text;
          break;
        case 'header_field':
          field += text;
          break;
        case 'header_value':
          value += text;
          break;
        case 'body':
          current.body += text;
          break;
        default: // protocol, version (taken from "headers complete"), chunk extensions
      }
      continue;
    }
    if (rest === 'message begin') {
      current = {
        method: '',
        target: '',
        versionMajor: 0,
        versionMinor: 0,
        headers: [],
        trailers: [],
        body: '',
        flags: '0',
        contentLength: 0,
        done: false,
        headersDone: false,
      };
      continue;
    }
    if (rest === 'header_value complete') {
      if (current === null) throw new Error('header outside a message');
      (current.headersDone ? current.trailers : current.headers).push(field, value);
      field = '';
      value = '';
      continue;
    }
    const headersComplete = /^headers complete method=\d+ v=(\d+)\/(\d+) flags=([0-9a-f]+) content_length=(\d+)$/.exec(rest);
    if (headersComplete) {
      if (current === null) throw new Error('headers outside a message');
      current.versionMajor = Number(headersComplete[1]);
      current.versionMinor = Number(headersComplete[2]);
      current.flags = headersComplete[3] as string;
      current.contentLength = Number(headersComplete[4]);
      current.headersDone = true;
      continue;
    }
    if (rest === 'message complete') {
      if (current === null) throw new Error('message complete outside a message');
      const { done: _done, headersDone: _headersDone, ...message } = current;
      messages.push(message);
      current.done = true;
      continue;
    }
    const errorMatch = /^error code=(\d+) reason="(.*)"$/.exec(rest);
    if (errorMatch) {
      error = { code: Number(errorMatch[1]), reason: errorMatch[2] as string };
      continue;
    }
    const finishMatch = /^finish=(\d+)$/.exec(rest);
    if (finishMatch) {
      finish = Number(finishMatch[1]);
    }
    // Everything else (… complete, reset, pause, skip body, chunk header/complete) only marks
    // progress that the spans above already describe.
  }
  let verdict: Verdict;
  if (error?.code === PAUSED_UPGRADE) verdict = 'upgrade';
  else if (error?.code === PAUSED_H2_UPGRADE) verdict = 'h2-preface';
  else if (error !== null) verdict = 'reject';
  else verdict = current !== null && !current.done ? 'incomplete' : 'accept';
  return { verdict, messages, error, finish };
}
