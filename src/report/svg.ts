/**
 * The few pieces of SVG and HTML text building the report needs: escaping and a tag writer.
 * Everything the report emits goes through `escapeXml`, because lab readings, step titles and
 * machine names are text from elsewhere and may hold `<` or `&` (a reading quoting `<= 1 ms`).
 */

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] as string);
}

export type Attributes = Record<string, string | number | null | undefined>;

/** Attribute text; null and undefined are left out, numbers are rounded to 0.1 px. */
export function attributes(attrs: Attributes): string {
  let text = '';
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    text += ` ${name}="${escapeXml(typeof value === 'number' ? String(px(value)) : value)}"`;
  }
  return text;
}

/** `<name attrs>children</name>`, or `<name attrs/>` without children. Children are already markup. */
export function tag(name: string, attrs: Attributes, children?: string | readonly string[]): string {
  const inner = children === undefined ? undefined : typeof children === 'string' ? children : children.join('');
  return inner === undefined ? `<${name}${attributes(attrs)}/>` : `<${name}${attributes(attrs)}>${inner}</${name}>`;
}

/** Pixel coordinates with one decimal: enough for a crisp line, short enough to keep files small. */
export function px(value: number): number {
  return Math.round(value * 10) / 10;
}

/** A slug for ids and file names: "Pool wait (p99)" → "pool-wait-p99". */
export function slugify(text: string): string {
  return (
    text
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'chart'
  );
}

/** A file name as one URL path segment: percent-encoded, parentheses too (Markdown ends a link at `)`). */
export function urlPart(name: string): string {
  return encodeURIComponent(name).replace(/[()'!*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
