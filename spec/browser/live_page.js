// Opens asx-host's live page (--http) in Debian's headless chromium
// (playwright-core), waits until the stream has brought a few book and
// session events, and prints one JSON line:
//   { errors, requests, live: { events, books, ... }, ladder: [bids, asks],
//     tables: [summary, strategies] (rows of cell texts), screenshot: { path, colors } }
// requests are those to any other origin. With --wait-close it then keeps
// the page open and prints a second line, { closed: true, errors, held, lines, live, tables, status },
// once the server ends the stream (the session stopped): held is the data
// the page holds then (window.asxReport.held()), lines the strategy value
// lines it draws (window.asxReport.lines()), status the live status line's text.
// spec/http_spec.lua uses both.
//
//   node spec/browser/live_page.js URL SCREENSHOT.png [--wait-close]
'use strict';
const { chromium } = require('playwright-core');
const { colors } = require('./shot');

async function main() {
  const [url, shotPath, flag] = process.argv.slice(2);
  const origin = new URL(url).origin;
  const browser = await chromium.launch({
    executablePath: process.env.ASX_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-proxy-server'],
  });
  const out = { errors: [], requests: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    await context.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(origin + '/')) return route.continue();
      out.requests.push(u);
      return route.abort();
    });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') out.errors.push(m.text()); });
    page.on('pageerror', (e) => out.errors.push(String(e)));
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => window.asxReport && window.asxReport.live.books >= 2 &&
      window.asxReport.live.sessions >= 1, null, { timeout: 20000 });
    out.live = await page.evaluate(() => window.asxReport.live);
    out.ladder = await page.evaluate(() => window.asxReport.ladder());
    out.tables = await page.evaluate(() => window.asxReport.tables());
    // Waits for the charts to paint before the picture.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const shot = await page.screenshot({ path: shotPath, fullPage: true });
    out.screenshot = { path: shotPath, bytes: shot.length, colors: await colors(page, shot) };
    process.stdout.write(JSON.stringify(out) + '\n');
    if (flag === '--wait-close') {
      await page.waitForFunction(() => !window.asxReport.live.open, null, { timeout: 30000 });
      // Through JSON text: an object keyed by strategy names has no
      // prototype, and a key such as __proto__ must come through as a key.
      const held = JSON.parse(await page.evaluate(() => JSON.stringify(window.asxReport.held())));
      const lines = JSON.parse(await page.evaluate(() => JSON.stringify(window.asxReport.lines())));
      const live = await page.evaluate(() => window.asxReport.live);
      const tables = await page.evaluate(() => window.asxReport.tables());
      const status = await page.evaluate(() => document.getElementById('live-status').textContent);
      process.stdout.write(JSON.stringify({ closed: true, errors: out.errors, held, lines, live, tables, status }) +
        '\n');
    }
  } finally {
    await browser.close();
  }
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
