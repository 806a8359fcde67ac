/**
 * A real headless browser for tests: Debian's Chromium (`apt-get install chromium`; `.ci/run`
 * installs it) driven by playwright-core. Used to open `flotilla report` files as a person would.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './cli';

/** The browser the tests drive. */
export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots the tests keep (gitignored). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

/** Whether a missing browser fails the test rather than skipping its browser part (CI, or asked for). */
export function browserRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  const on = (v: string | undefined): boolean => !!v && !['0', 'false', ''].includes(v.toLowerCase());
  return on(env.CI) || on(env.FLOTILLA_REQUIRE_BROWSER);
}

/** What a rendered report page showed. */
export interface RenderedReport {
  /** Console errors and warnings, and uncaught page errors. */
  errors: string[];
  /** Every URL the page requested besides the report itself (none: it works offline). */
  requests: string[];
  title: string;
  /** The text of each chart's SVG (ECharts' SVG renderer puts axis labels and names there). */
  timeline: string;
  graph: string;
  costRuntime: string;
  /** How many drawn shapes (rect, path) the timeline's SVG has. */
  timelineShapes: number;
  header: string;
  failures: string;
  tasks: string;
}

/**
 * Opens `file` in headless Chromium, waits until its script has drawn everything, and saves a
 * full-page screenshot to test-artifacts/`screenshot`.
 * @returns what it showed, or null when Chromium is missing and not required (said on stderr)
 * @throws Error when Chromium is missing and {@link browserRequired}
 */
export async function renderReport(file: string, screenshot: string): Promise<RenderedReport | null> {
  if (!existsSync(CHROMIUM)) {
    const why = `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\``;
    if (browserRequired()) throw new Error(`${why} (required: CI or FLOTILLA_REQUIRE_BROWSER is set)`);
    console.warn(`SKIPPED the browser check of ${path.basename(file)}: ${why}`);
    return null;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const url = pathToFileURL(file).href;
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    await page.goto(url);
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 15_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, screenshot), fullPage: true });
    const text = (selector: string): Promise<string> =>
      page.$eval(selector, (e) => (e as unknown as { innerText: string }).innerText).catch(() => '');
    const svgText = (selector: string): Promise<string> =>
      page.$eval(selector, (e) => e.textContent ?? '').catch(() => '');
    return {
      errors,
      requests,
      title: await page.title(),
      timeline: await svgText('#timeline svg'),
      graph: await svgText('#graph svg'),
      costRuntime: await svgText('#cost-runtime svg'),
      timelineShapes: await page.$$eval('#timeline svg rect, #timeline svg path', (l) => l.length),
      header: await text('#header'),
      failures: await text('#failures'),
      tasks: await text('#tasks'),
    };
  } finally {
    await browser.close();
  }
}
