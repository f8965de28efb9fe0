/**
 * The generated regions of a markdown file: `<!-- figures:NAME ARGS -->`, the generated text,
 * then `<!-- /figures:NAME -->`. Only what lies between the two markers is ever replaced;
 * every byte outside them is kept, so a doc's prose can be edited freely around its figures.
 * Pure: text in, text out (src/cli/docs.ts reads and writes the files).
 */
import { LAB_ERR, LabError } from '../errors.js';

export interface FigureRegion {
  name: string;
  args: string[];
  /** The text between the markers, without the newline after the opening one and before the closing one. */
  body: string;
  /** 1-based line of the opening marker, for messages. */
  line: number;
  /** Offsets of the body in the file. */
  start: number;
  end: number;
}

const OPEN = /<!-- figures:([a-z0-9-]+)((?: [^\s>]+)*) -->\n/g;

/** Every region of `text`, in order; an opening marker without its closing one is an error naming the line. */
export function findRegions(text: string, file: string): FigureRegion[] {
  const regions: FigureRegion[] = [];
  OPEN.lastIndex = 0;
  for (let match = OPEN.exec(text); match !== null; match = OPEN.exec(text)) {
    const name = match[1] as string;
    const start = match.index + match[0].length;
    const close = `<!-- /figures:${name} -->`;
    const end = text.indexOf(close, start);
    const line = text.slice(0, match.index).split('\n').length;
    if (end === -1) throw new LabError(LAB_ERR.DOCS_FIGURES, `${file}:${line}: <!-- figures:${name} --> has no closing <!-- /figures:${name} -->`);
    const nested = text.slice(start, end).indexOf('<!-- figures:');
    if (nested !== -1) throw new LabError(LAB_ERR.DOCS_FIGURES, `${file}:${line}: <!-- figures:${name} --> holds another region before its closing marker`);
    // The body ends before the newline that precedes the closing marker.
    const bodyEnd = end > start && text[end - 1] === '\n' ? end - 1 : end;
    regions.push({ name, args: (match[2] as string).split(' ').filter((a) => a !== ''), body: text.slice(start, bodyEnd), line, start, end: bodyEnd });
    OPEN.lastIndex = end + close.length;
  }
  return regions;
}

/** `text` with each region's body replaced by `render(region)`; the markers and everything outside them unchanged. */
export function replaceRegions(text: string, regions: readonly FigureRegion[], render: (region: FigureRegion) => string): { text: string; stale: FigureRegion[] } {
  let out = '';
  let at = 0;
  const stale: FigureRegion[] = [];
  for (const region of regions) {
    const body = render(region).replace(/\n+$/, '');
    if (body !== region.body) stale.push(region);
    out += text.slice(at, region.start) + body;
    // A region that was empty gains the newline its closing marker needs.
    at = region.end;
    if (region.end === region.start && text[region.end] !== '\n') out += '\n';
  }
  return { text: out + text.slice(at), stale };
}
