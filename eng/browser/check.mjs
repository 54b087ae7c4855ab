// Renders what an operator looks at, in headless Chromium: the Aspire dashboard's trace of one execution, Swagger UI
// and Scalar. Saves screenshots to docs/ and fails when a page does not show what it should.
// Usage: node check.mjs <dashboard-url> <gateway-url> <trace-id> <out-dir>   (run by eng/browser-check.sh)
import puppeteer from 'puppeteer-core';

const [dashboard, gateway, traceId, out] = process.argv.slice(2);
const routes = ['/execute', '/result/{session_id}', '/cleanup/{session_id}', '/prewarm'];

const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  // A closed network: no background fetches, no sandbox (root in CI), a fresh profile.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  defaultViewport: { width: 1600, height: 1000 },
});
const failures = [];
try {
  const page = await browser.newPage();

  await page.goto(`${dashboard}/traces/detail/${traceId}`, { waitUntil: 'networkidle2', timeout: 60000 });
  await page.waitForFunction(() => document.body.innerText.includes('run container'), { timeout: 60000 });
  // The local-only banners (no dev certificate, anonymous telemetry) are expected here: dismiss them.
  await page.evaluate(() => document.querySelectorAll('fluent-message-bar').forEach(bar => bar.remove()));
  await new Promise(r => setTimeout(r, 1500)); // let the waterfall finish laying out
  await page.screenshot({ path: `${out}/trace.png` });
  for (const span of ['POST /execute', 'dispatch session', 'acquire container', 'run container', 'store result']) {
    if (!(await page.evaluate(s => document.body.innerText.includes(s), span))) failures.push(`trace view lacks "${span}"`);
  }

  await page.goto(`${gateway}/apidocs/index.html`, { waitUntil: 'networkidle2', timeout: 60000 });
  await page.waitForSelector('.opblock', { timeout: 60000 });
  await page.screenshot({ path: `${out}/apidocs.png` });
  const swagger = await page.evaluate(() => document.body.innerText);
  for (const route of routes) if (!swagger.includes(route)) failures.push(`Swagger UI lacks ${route}`);

  await page.goto(`${gateway}/scalar/`, { waitUntil: 'networkidle2', timeout: 60000 });
  await page.waitForFunction(() => document.body.innerText.includes('/execute'), { timeout: 60000 });
  // Scalar renders a collapsed group's operations only once it is opened.
  await page.evaluate(() => [...document.querySelectorAll('.sr-only')]
    .filter(label => label.textContent.trim().startsWith('Open Group'))
    .forEach(label => label.closest('button')?.click()));
  await page.waitForFunction(() => document.body.innerText.includes('/prewarm'), { timeout: 30000 });
  await page.screenshot({ path: `${out}/scalar.png` });
  const scalar = await page.evaluate(() => document.body.innerText);
  for (const route of routes) if (!scalar.includes(route)) failures.push(`Scalar lacks ${route}`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log(`all pages render; screenshots in ${out}`);
