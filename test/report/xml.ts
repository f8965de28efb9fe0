/**
 * Enough of an XML check for generated SVG and HTML fragments without a DOM: every tag that
 * opens closes, in order, and no raw `&` or `<` is left in text. The browser test checks the
 * real rendering.
 */
import assert from 'node:assert/strict';

const VOID_HTML = new Set(['meta', 'br', 'img', 'link', 'hr', 'input']);

export function assertWellFormed(markup: string, options: { html?: boolean } = {}): void {
  const stack: string[] = [];
  const body = markup
    .replace(/<!doctype[^>]*>/i, '')
    .replace(/<\?xml[^>]*\?>/, '')
    .replace(/<!--[\s\S]*?-->/g, '');
  const tags = body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g);
  let consumed = 0;
  for (const match of tags) {
    const [whole, closing, name, , selfClosing] = match as unknown as [string, string, string, string, string];
    const text = body.slice(consumed, match.index);
    assert.ok(!/&(?!(amp|lt|gt|quot|#39|#\d+);)/.test(text), `raw & in text before <${name}>: ${text.slice(0, 80)}`);
    assert.ok(!text.includes('<'), `stray < in text before <${name}>: ${text.slice(0, 80)}`);
    consumed = (match.index ?? 0) + whole.length;
    if (selfClosing === '/' || (options.html === true && VOID_HTML.has(name.toLowerCase()) && closing === '')) continue;
    if (closing === '') stack.push(name);
    else assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
  }
  assert.deepEqual(stack, [], `unclosed: ${stack.join(', ')}`);
}

export function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}
