// Opens an asx report page in Debian's headless chromium (playwright-core,
// never a downloaded browser) with the network cut off, clicks through the
// interval buttons and prints what it saw as one JSON object:
//   { errors: [...], requests: [...], intervals: [...], default: iv,
//     drawn: { [iv]: { candles, volume } }, lines: [{ title, values }],
//     facts: { [name]: text }, params: { [name]: text },
//     screenshot: { path, bytes, colors } }
// lines are the strategy value lines drawn (window.asxReport.lines()).
// errors are console errors and uncaught exceptions; requests are the
// requests the page made to anything but its own file. spec/report_browser_spec.lua
// runs it and compares the figures with the CSV log of the same run.
//
//   node spec/browser/report_page.js PAGE.html SCREENSHOT.png
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');
const { colors } = require('./shot');

async function main() {
  const [pagePath, shotPath] = process.argv.slice(2);
  const url = 'file://' + path.resolve(pagePath);
  const browser = await chromium.launch({
    executablePath: process.env.ASX_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-proxy-server'],
  });
  const out = { errors: [], requests: [], drawn: {} };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, offline: true });
    // Every request but the page itself is refused and recorded.
    await context.route('**/*', (route) => {
      const u = route.request().url();
      if (u === url) return route.continue();
      out.requests.push(u);
      return route.abort();
    });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') out.errors.push(m.text()); });
    page.on('pageerror', (e) => out.errors.push(String(e)));
    page.on('requestfailed', (r) => { if (r.url() !== url && !out.requests.includes(r.url())) out.requests.push(r.url()); });
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => window.asxReport && window.asxReport.ready, null, { timeout: 20000 });
    out.default = await page.evaluate(() => window.asxReport.interval);
    out.intervals = await page.evaluate(() => window.asxReport.intervals);
    out.drawn[out.default] = await page.evaluate(() => window.asxReport.drawn());
    out.lines = await page.evaluate(() => window.asxReport.lines());
    // The header's facts and the session table, as text by their names.
    out.facts = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#facts > div')]
      .map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])));
    out.params = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#params tr')]
      .map((tr) => [...tr.cells].map((c) => c.textContent))));
    // Waits for the charts to paint before the picture.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const shot = await page.screenshot({ path: shotPath, fullPage: true });
    out.screenshot = { path: shotPath, bytes: shot.length, colors: await colors(page, shot) };
    for (const iv of out.intervals) {
      await page.click(`#intervals button[data-interval="${iv}"]`);
      const d = await page.evaluate(() => window.asxReport.drawn());
      const pressed = await page.getAttribute(`#intervals button[data-interval="${iv}"]`, 'aria-pressed');
      out.drawn[iv] = Object.assign(d, { pressed: pressed === 'true' });
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
