/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import readme from '../../README.md?raw';

// README and the docs pages link to each other by relative path and heading anchor; a page split or a
// renamed heading must not leave a link pointing nowhere.
const pages: Record<string, string> = {
  'README.md': readme,
  ...Object.fromEntries(
    Object.entries(import.meta.glob<string>('../../docs/*.md', { query: '?raw', import: 'default', eager: true })).map(([file, text]) => [file.replace('../../', ''), text]),
  ),
};
const DIRECTORIES = new Set(['docs/']);

/** GitHub's heading anchor: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

/** Headings outside fenced code blocks (a shell comment is not a heading). */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const h = !fenced && /^#{1,6} (.+)$/.exec(line);
    if (h) out.add(slug(h[1]!));
  }
  return out;
}

/** `a/b/../c.md` → `a/c.md`, relative to the linking page's folder. */
function resolve(from: string, target: string): string {
  const parts = [...from.split('/').slice(0, -1), ...target.split('/')];
  const out: string[] = [];
  for (const p of parts) {
    if (p === '..') out.pop();
    else if (p !== '.') out.push(p);
  }
  return out.join('/');
}

describe('links between README and docs/', () => {
  it('computes anchors as GitHub does', () => {
    expect(slug('Local crons go through `/__scheduled`')).toBe('local-crons-go-through-__scheduled');
    expect(slug('1. Ordered')).toBe('1-ordered');
  });

  it('every relative link points at a page, and every anchor at a heading of it', () => {
    const broken: string[] = [];
    for (const [file, text] of Object.entries(pages)) {
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [pathPart, anchor] = target!.split('#') as [string, string | undefined];
        const page = pathPart === '' ? file : resolve(file, pathPart);
        if (DIRECTORIES.has(page.endsWith('/') ? page : `${page}/`) && !anchor) continue;
        if (!(page in pages)) broken.push(`${file}: ${target} (no such page)`);
        else if (anchor && !anchors(pages[page]!).has(anchor)) broken.push(`${file}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});
