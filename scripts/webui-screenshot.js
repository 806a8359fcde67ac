#!/usr/bin/env node
/**
 * Takes a screenshot of a Temporal Web UI page (or any page), for the README's pictures:
 *   node scripts/webui-screenshot.js URL OUT.png [TAB]
 * TAB is a tab of the workflow page to open first, e.g. "User Metadata" (summary, details and
 * current details) or "History". Uses Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) through
 * playwright-core, as the report's browser test does. A development tool, not part of the product.
 */
const { chromium } = require('playwright-core');

async function main() {
  const [url, out, tab] = process.argv.slice(2);
  if (!url || !out) {
    console.error('usage: node scripts/webui-screenshot.js URL OUT.png [TAB]');
    process.exit(2);
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    // The Web UI renders after its first API calls; it polls forever, so "network idle" never comes.
    await page.waitForTimeout(3000);
    if (tab) {
      await page.getByRole('tab', { name: tab }).first().click();
      await page.waitForTimeout(2500);
    }
    await page.screenshot({ path: out, fullPage: true });
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
