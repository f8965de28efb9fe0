/**
 * A page of ours in a real browser: Debian's chromium, headless, JavaScript off (socketlab's
 * pages must not need it), from a file:// URL, with every request the page makes recorded.
 *
 * Chromium comes from Debian (`apt-get install -y chromium`), not from Playwright's own
 * download (which cannot be fetched here); without it a test skips and says why. The flags
 * are the machine's tested set: without the background-networking ones, Chromium's calls
 * home are refused by the closed network, many at a time.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page, type Response } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The test's skip reason when chromium is missing, else false. */
export function chromiumSkipReason(what: string): string | false {
  return existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium): ${what} was not checked in a browser`;
}

export interface OpenedPage {
  page: Page;
  response: Response | null;
  url: string;
  /** Every URL the page asked for, itself included. */
  requested: string[];
  /** A folder of the test's own, removed by close(). */
  root: string;
}

/**
 * A fresh profile in a temp folder, the file written by `write(root)` (which returns its
 * path) opened, and `use` given the page; the browser and the folder go whatever happens.
 */
export async function withPageInChromium<T>(prefix: string, write: (root: string) => string, use: (opened: OpenedPage) => Promise<T>): Promise<T> {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  const context = await chromium.launchPersistentContext(path.join(root, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    javaScriptEnabled: false,
    viewport: { width: 1100, height: 900 },
  });
  try {
    const file = write(root);
    const page = context.pages()[0] ?? (await context.newPage());
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    const url = pathToFileURL(file).href;
    const response = await page.goto(url, { waitUntil: 'load' });
    return await use({ page, response, url, requested, root });
  } finally {
    await context.close();
    rmSync(root, { recursive: true, force: true });
  }
}
