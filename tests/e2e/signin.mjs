// Signing in to the dashboard, in Debian's chromium (playwright-core), against a `streamq serve`
// on the live demo source with tokens configured. Started by tests/dashboard.rs, which passes
// STREAMQ_URL, STREAMQ_CHROMIUM, STREAMQ_SCREENSHOTS and the tokens E2E_VIEWER, E2E_ANALYST,
// E2E_ADMIN. The page asks for a token; a wrong one is refused; a viewer signs in, sees who
// they are, and on every tab no real email, name or customer id (read by the test with the
// admin token) is shown, while masked ones are; an analyst without grants runs SQL in the Ask
// tab and watches a tail in the Live tab and sees masked values; signing out asks again.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';

const base = process.env.STREAMQ_URL;
const shots = process.env.STREAMQ_SCREENSHOTS;
const { E2E_VIEWER: viewer, E2E_ANALYST: analyst, E2E_ADMIN: admin } = process.env;
assert.ok(base && shots && viewer && analyst && admin, 'STREAMQ_URL, STREAMQ_SCREENSHOTS and the tokens are set');

const log = (...a) => console.log(...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, timeoutMs = 60000, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// The raw personal values, as an admin reads them (not through the page).
async function rawValues() {
  const r = await fetch(base + '/api/sql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({ sql: 'SELECT email, name, customer_id FROM hive.customers' }),
  });
  const j = await r.json();
  assert.ok(r.ok, JSON.stringify(j));
  return new Set(j.rows.flat().filter((v) => typeof v === 'string' && v.length >= 5));
}

const browser = await chromium.launch({
  executablePath: process.env.STREAMQ_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-quic', '--no-pings'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

async function signIn(token) {
  await page.goto(base + '/#schema');
  await page.locator('#signin').waitFor({ state: 'visible' });
  await page.fill('#signin-token', token);
  await page.click('#signin-form button[type=submit]');
}

/** The page's visible text holds no raw value. */
async function noRaw(where, raw) {
  const text = await page.locator('body').innerText();
  const shown = [...raw].filter((v) => text.includes(v));
  assert.deepEqual(shown.slice(0, 3), [], `${where} shows real personal data`);
  return text;
}

try {
  // Not signed in: the sign-in page, and the tabs are not shown.
  await page.goto(base + '/');
  await page.locator('#signin').waitFor({ state: 'visible' });
  assert.ok(await page.locator('main').isHidden(), 'the tabs are hidden before signing in');
  await page.screenshot({ path: path.join(shots, 'signin.png') });
  log('sign-in page shown');

  // A wrong token is refused on the page.
  await signIn('sq_00000000_not-a-token');
  await page.locator('#signin-error').waitFor({ state: 'visible' });
  log('a wrong token is refused:', await page.locator('#signin-error').innerText());

  // A viewer signs in (the cookie is HttpOnly: the page cannot read it).
  await signIn(viewer);
  await page.locator('#who-text').waitFor({ state: 'visible' });
  await until('the viewer named in the header', async () => (await page.locator('#who-text').innerText()).includes('(viewer)'));
  assert.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is not readable by scripts');
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'streamq_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict', `session cookie ${JSON.stringify(session)}`);
  log('viewer signed in');
  const raw = await rawValues();
  assert.ok(raw.size > 50, `raw values: ${raw.size}`);

  // Schema: hive.customers' columns say which are personal and masked.
  await page.goto(base + '/#schema');
  await page.locator('#schema-tables tr[data-table="hive.customers"]').click();
  await until('the customers columns', async () => (await page.locator('#schema-title').innerText()).includes('hive.customers'));
  await until('personal data marked', async () => (await page.locator('#schema-columns').innerText()).includes('email · masked for you'));
  await noRaw('schema', raw);
  await page.screenshot({ path: path.join(shots, 'signin-schema.png') });
  log('schema: email marked personal, masked for the viewer');

  // Search: hits (sales described in free text) show masked customer ids.
  await page.goto(base + '/#search');
  await page.selectOption('#search-table', 'db2.transactions');
  await page.fill('#search-q', 'purchase');
  await page.click('#search-form button[type=submit]');
  await until('search hits', async () => /[1-9]\d* hits/.test(await page.locator('#search-meta').innerText()), 30000);
  const hits = await page.evaluate(async () => {
    const r = await fetch('/api/search?q=purchase&table=db2.transactions&limit=50');
    return r.json();
  });
  assert.ok(hits.hits.length > 0, 'the viewer finds purchases');
  assert.ok(hits.hits.every((h) => String(h.row.customer_id).startsWith('***~')), 'hits carry masked customer ids');
  await noRaw('search', raw);
  await page.screenshot({ path: path.join(shots, 'signin-search.png') });
  log(`search: ${hits.hits.length} hits, customer ids masked`);

  // Insights & alerts, Live, Ask: nothing real; what needs an analyst says so.
  for (const tab of ['alerts', 'live', 'ask']) {
    await page.goto(base + '/#' + tab);
    await sleep(1500);
    await noRaw(tab, raw);
    await page.screenshot({ path: path.join(shots, `signin-${tab}.png`) });
  }
  assert.ok((await page.locator('body').innerText()).includes('need an analyst token'), 'the Ask tab says what a viewer cannot do');
  log('alerts, live, ask: no real personal data');

  // Sign out: the sign-in page again, and the API refuses the old cookie.
  await page.click('#sign-out');
  await page.locator('#signin').waitFor({ state: 'visible' });
  const after = await page.evaluate(async () => (await fetch('/api/tables')).status);
  assert.equal(after, 401, 'signed out');
  log('signed out');

  // An analyst without grants: SQL in the Ask tab and a tail in the Live tab are masked.
  await signIn(analyst);
  await until('the analyst named', async () => (await page.locator('#who-text').innerText()).includes('(analyst)'));
  await page.goto(base + '/#ask');
  await page.fill('#sql', 'SELECT customer_id, email, name FROM hive.customers ORDER BY customer_id LIMIT 20');
  await page.click('#run-sql');
  await until('the SQL result', async () => (await page.locator('#result').innerText()).includes('***@'));
  await noRaw('ask (analyst SQL)', raw);
  await page.screenshot({ path: path.join(shots, 'signin-analyst-sql.png') });
  await page.goto(base + '/#live');
  await page.selectOption('#tail-table', 'hive.transactions');
  await until('tail rows', async () => (await page.locator('#tail').innerText()).includes('***~'), 60000);
  await noRaw('live (analyst tail)', await rawValues());
  log('analyst: SQL and tail masked');
  assert.deepEqual(problems, [], 'no page errors');
} finally {
  await browser.close();
}
log('sign-in checks passed');
