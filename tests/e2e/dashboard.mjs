// The dashboard, end to end in Debian's chromium (driven by playwright-core), against a
// `streamq serve` that is replaying the dev data at a paced speed. Started by
// tests/dashboard.rs, which passes STREAMQ_URL, STREAMQ_SCREENSHOTS, STREAMQ_CHROMIUM,
// E2E_TABLE (the fraud burst's table) and E2E_BURST_START_MS (its start, event time).
// Every check throws on failure; the process exits non-zero then.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';

const base = process.env.STREAMQ_URL;
const shots = process.env.STREAMQ_SCREENSHOTS;
const table = process.env.E2E_TABLE;
const burstStart = Number(process.env.E2E_BURST_START_MS);
assert.ok(base && shots && table && burstStart, 'STREAMQ_URL, STREAMQ_SCREENSHOTS, E2E_TABLE and E2E_BURST_START_MS are set');

const RULE = 'alert me when declined transactions in any region exceed 20% over 5 minutes';
const BREAKDOWN = 'how many transactions per region?';
const TREND = 'number of transactions per minute over time';
const SEARCH = '"Blue Yonder"';

const log = (...a) => console.log(...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The test's own view of the server (not through the page).
async function getJson(p) {
  const r = await fetch(base + p);
  assert.ok(r.ok, `${p}: HTTP ${r.status}`);
  return r.json();
}
async function sql(q) {
  const r = await fetch(base + '/api/sql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: q }) });
  const j = await r.json();
  assert.ok(r.ok, `${q}: ${JSON.stringify(j)}`);
  return j;
}
async function until(what, fn, timeoutMs = 60000, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
// The number a table cell shows ("21,473" → 21473; text stays text).
const parseCell = (s) => (/^-?[\d,]+(\.\d+)?$/.test(s) ? Number(s.replace(/,/g, '')) : s);
const shown = (v) => (v === null ? 'null' : typeof v === 'number' ? v : String(v));

const browser = await chromium.launch({
  executablePath: process.env.STREAMQ_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-quic', '--no-pings',
    '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const requests = [];
context.on('request', (r) => requests.push(r.url()));
const problems = [];
const page = await context.newPage();
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
const shot = async (name) => {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: name.endsWith('-full') });
  log(`screenshot ${name}.png`);
};
const tab = async (name) => {
  await page.click(`#tabs a[data-tab="${name}"]`);
  await page.waitForSelector(`#tab-${name}:not([hidden])`);
  assert.match(await page.title(), /^streamq — [A-Z][a-z &]+[a-z]$/);
};

try {
  // ---- load: every page's script and style from this server, the WebSocket subscribed.
  await page.goto(`${base}/#alerts`);
  await page.waitForFunction(() => typeof ws !== 'undefined' && ws.acked >= 2, null, { timeout: 30000 });
  log('page loaded, insights and alerts subscribed');

  // ---- an English alert, as soon as the table has the values it names.
  await until('declined transactions to arrive', async () => {
    const t = (await getJson('/api/tables')).tables.find((x) => x.name === table);
    if (!t) return false;
    const r = await sql(`SELECT COUNT(*) FROM ${table} WHERE status = 'declined'`);
    return r.rows[0][0] > 0;
  }, 120000, 300);
  await page.fill('#rule-text', RULE);
  await page.click('#rule-english button[type=submit]');
  await page.waitForSelector('#rules .rule', { timeout: 30000 });
  const ruleErr = await page.$eval('#rule-error', (e) => (e.hidden ? '' : e.textContent));
  assert.equal(ruleErr, '', 'the rule was accepted');
  const rules = (await getJson('/api/alerts')).rules;
  assert.equal(rules.length, 1);
  const rule = rules[0];
  assert.equal(rule.text, RULE);
  assert.equal(rule.table, table);
  const ruleTitle = await page.textContent(`#rules .rule[data-id="${rule.id}"] .title`);
  assert.equal(ruleTitle, RULE, 'the rule is listed by its text');
  const sources = await getJson('/api/sources');
  log(`rule ${rule.id} created (${rule.description}) after ${sources.records_read} records`);

  // ---- Live: the tail updates; a filter holds; throughput charts draw.
  await tab('live');
  await page.selectOption('#tail-table', table);
  await page.click('#tail-form button[type=submit]');
  const count = () => page.$eval('#tail-meta', (e) => Number((e.textContent.match(/([\d,]+) changes/) || [0, '0'])[1].replace(/,/g, '')));
  await page.waitForSelector('#tail tbody tr', { timeout: 30000 });
  const c1 = await count();
  await until('the tail to grow', async () => (await count()) > c1 + 20, 60000);
  const rows1 = await page.$$eval('#tail tbody tr', (trs) => trs.length);
  log(`live tail: ${await count()} changes received, ${rows1} rows shown`);
  await page.fill('#tail-filter', 'amount > 1000');
  await page.click('#tail-form button[type=submit]');
  await page.waitForFunction(() => /where amount > 1000/.test(document.querySelector('#tail-meta').textContent));
  await until('filtered changes', async () => (await count()) >= 3, 90000);
  await sleep(300); // one more flush of the tail's buffer
  const header = await page.$$eval('#tail thead th', (ths) => ths.map((t) => t.textContent));
  const amountAt = header.indexOf('amount');
  assert.ok(amountAt > 0, `an amount column in ${header}`);
  const amounts = await page.$$eval('#tail tbody tr', (trs, i) => trs.map((tr) => tr.children[i].textContent), amountAt);
  assert.ok(amounts.length > 0);
  for (const a of amounts) assert.ok(parseCell(a) > 1000, `filtered tail shows amount ${a}`);
  log(`filtered tail: ${amounts.length} rows, all with amount > 1000`);
  await until('throughput charts', () => page.$$eval('#rate-charts img', (imgs) => imgs.filter((i) => i.complete && i.naturalWidth > 0).length >= 4), 30000);
  const charts = await page.$$eval('#rate-charts img', (imgs) => imgs.map((i) => i.alt));
  assert.ok(charts.some((a) => a.startsWith(table) && a.endsWith('events per second')), `a rate chart for ${table}: ${charts}`);
  assert.ok(charts.some((a) => a.endsWith('lag')), 'a lag chart');
  // Partitions appear as the paced replay reaches them: the table catches up at its next refresh.
  await until('one row per partition', async () => {
    const partRows = await page.$$eval('#partitions tbody tr', (trs) => trs.length);
    return partRows === (await getJson('/api/sources')).partitions.length;
  }, 30000);
  await shot('live');

  // ---- Insights & alerts: an insight arrives; the rule fires.
  await tab('alerts');
  await page.waitForSelector('#insights .item.insight.new', { timeout: 240000 });
  const insight = await page.textContent('#insights .item.insight.new');
  log(`insight arrived: ${insight.slice(0, 120)}`);
  await page.waitForSelector(`#history .item.firing[data-rule="${rule.id}"]`, { timeout: 300000 });
  const fired = await page.textContent(`#history .item.firing[data-rule="${rule.id}"]`);
  log(`alert fired: ${fired.slice(0, 160)}`);
  const events = (await getJson(`/api/alerts/${rule.id}/events`)).events;
  const firing = events.filter((e) => e.state === 'firing');
  assert.ok(firing.length > 0, 'the server recorded the firing');
  assert.ok(firing.some((e) => e.at_ms > burstStart), 'it fired after the burst began');
  await shot('alerts');
  // Disable, then enable, from the page.
  await page.click(`#rules .rule[data-id="${rule.id}"] button:text("Disable")`);
  await page.waitForSelector(`#rules .rule.disabled[data-id="${rule.id}"]`);
  assert.equal((await getJson(`/api/alerts/${rule.id}`)).enabled, false, 'disabled on the server');
  await page.click(`#rules .rule[data-id="${rule.id}"] button:text("Enable")`);
  await page.waitForSelector(`#rules .rule:not(.disabled)[data-id="${rule.id}"]`);
  assert.equal((await getJson(`/api/alerts/${rule.id}`)).enabled, true, 'enabled again');
  // A rule from the form, then deleted.
  await page.click('#rule-form-box summary');
  await page.selectOption('#rule-form select[name=table]', table);
  await page.fill('#rule-form input[name=name]', 'e2e form rule');
  await page.selectOption('#rule-form select[name=agg]', 'count');
  await page.fill('#rule-form input[name=value]', '100000');
  await page.click('#rule-form button[type=submit]');
  await page.waitForSelector('#rules .rule .title:text("e2e form rule")');
  const formRule = (await getJson('/api/alerts')).rules.find((r) => r.name === 'e2e form rule');
  assert.deepEqual(formRule.measure, { agg: 'count' });
  assert.deepEqual(formRule.condition, { op: '>', value: 100000 });
  assert.equal(formRule.window_ms, 300000);
  await page.click(`#rules .rule[data-id="${formRule.id}"] button.danger`);
  await page.waitForSelector(`#rules .rule[data-id="${formRule.id}"]`, { state: 'detached' });
  assert.equal((await getJson('/api/alerts')).rules.length, 1, 'deleted on the server');
  log('rule disabled, enabled; a form rule created and deleted');

  // ---- the replay ends; the answers below are then stable.
  await until('the replay to finish', async () => (await getJson('/api/sources')).finished === true, 300000, 1000);

  const tables0 = (await getJson('/api/tables')).tables.map((t) => t.name);

  // ---- Ask: the answer, its SQL and its table; a chart for a trend.
  await tab('ask');
  await page.fill('#question', BREAKDOWN);
  await page.click('#ask-form button[type=submit]');
  await page.waitForSelector('#result-table tbody tr', { timeout: 60000 });
  const sentence = await page.textContent('#answer-text');
  assert.ok(sentence.length > 10 && sentence !== 'Thinking…', `an answer sentence: ${sentence}`);
  const askedSql = await page.inputValue('#sql');
  assert.match(askedSql, /^SELECT /i);
  const expected = await sql(askedSql);
  const cells = await page.$$eval('#result-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  // The SQL has no ORDER BY: compare the rows as a set.
  const key = (r) => JSON.stringify(r);
  assert.deepEqual(cells.map((r) => key(r.map(parseCell))).sort(), expected.rows.map((r) => key(r.map(shown))).sort(), 'the table shows what the SQL returns');
  const heads = await page.$$eval('#result-table thead th', (ths) => ths.map((t) => t.textContent));
  assert.deepEqual(heads, expected.columns.map((c) => c.name));
  await page.waitForSelector('#chart-img', { timeout: 30000 });
  log(`ask: "${sentence}" — ${cells.length} rows, ${askedSql}`);
  await shot('ask-breakdown');

  await page.fill('#question', TREND);
  await page.click('#ask-form button[type=submit]');
  await page.waitForFunction((prev) => document.querySelector('#sql').value !== prev, askedSql, { timeout: 60000 });
  await page.waitForFunction(() => {
    const i = document.querySelector('#chart-img');
    return i && i.complete && i.naturalWidth > 0 && /^line chart/.test(i.alt);
  }, null, { timeout: 30000 });
  const trendSql = await page.inputValue('#sql');
  const trendRows = await page.$$eval('#result-table tbody tr', (trs) => trs.length);
  assert.equal(trendRows, Math.min(500, (await sql(trendSql)).rows.length));
  assert.ok(trendRows > 30, `a series of minutes, got ${trendRows}`);
  log(`trend: a line chart over ${trendRows} points`);
  await shot('ask');
  const recentChips = await page.$$eval('#recent .chip', (cs) => cs.map((c) => c.textContent));
  assert.deepEqual(recentChips, [TREND, BREAKDOWN], 'recent questions, newest first');

  // Edit the SQL and run it again.
  const countSql = `SELECT COUNT(*) AS n FROM ${table}`;
  await page.fill('#sql', countSql);
  await page.click('#run-sql');
  await page.waitForFunction(() => document.querySelectorAll('#result-table thead th').length === 1 && document.querySelector('#result-table thead th').textContent === 'n');
  const n = parseCell(await page.textContent('#result-table tbody td'));
  assert.equal(n, (await sql(countSql)).rows[0][0]);
  const hiddenChart = await page.$eval('#chart', (c) => c.hidden);
  assert.equal(hiddenChart, true, 'no chart for a single number');
  log(`edited SQL re-run: n = ${n}`);

  // ---- Search: the page shows what /api/search finds, matches highlighted.
  await tab('search');
  await page.fill('#search-q', SEARCH);
  await page.click('#search-form button[type=submit]');
  await page.waitForFunction(() => /hits in/.test(document.querySelector('#search-meta').textContent), null, { timeout: 30000 });
  const api = await getJson(`/api/search?q=${encodeURIComponent(SEARCH)}&limit=50`);
  assert.ok(api.hits.length > 0, `hits for ${SEARCH}`);
  const found = await page.$$eval('#search-results tbody tr', (trs) => trs.map((tr) => [tr.children[1].textContent, tr.children[3].querySelector('.snippet').innerHTML]));
  assert.equal(found.length, api.hits.length, 'as many hits as the API');
  for (const [t, snippet] of found) {
    assert.ok(/<b>[^<]+<\/b>/.test(snippet), `a highlighted match in ${snippet}`);
    assert.ok(!/<(?!\/?b>)/.test(snippet), `only <b> markup in ${snippet}`);
    assert.ok(tables0.includes(t));
  }
  log(`search "${SEARCH}": ${found.length} hits, highlighted`);
  await shot('search');

  // ---- Schema: tables, columns, types, original names, keys, row counts.
  await tab('schema');
  const tables = (await getJson('/api/tables')).tables;
  await until('the tables list', async () => (await page.$$eval('#schema-tables tbody tr', (t) => t.length)) === tables.length, 15000);
  const listed = await page.$$eval('#schema-tables tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  for (const t of tables) {
    const row = listed.find((r) => r[0] === t.name);
    assert.ok(row, `${t.name} listed`);
    assert.equal(parseCell(row[3]), t.row_count, `${t.name} row count`);
  }
  await page.click(`#schema-tables tr[data-table="${table}"]`);
  await page.waitForFunction((t) => document.querySelector('#schema-title').textContent === `Columns of ${t}`, table);
  const detail = await getJson(`/api/tables/${table}`);
  const cols = await page.$$eval('#schema-columns tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(cols.map((c) => [c[0], c[1], c[2], c[4] === 'key']), detail.columns.map((c) => [c.name, c.original ?? '', c.type, c.primary_key === true]));
  const qcount = (await getJson('/api/quarantine')).count;
  assert.match(await page.textContent('#quarantine-count'), new RegExp(`${qcount.toLocaleString('en-US')} in all`));
  log(`schema: ${tables.length} tables, ${cols.length} columns of ${table}, ${qcount} quarantined`);
  await shot('schema');

  // ---- phone width: each page fits without sideways scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const name of ['ask', 'live', 'alerts', 'search', 'schema']) {
    await tab(name);
    await sleep(700);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 391, `${name} at phone width is ${wide}px wide`);
    await shot(`${name}-phone`);
  }

  // ---- nothing left localhost; nothing went wrong in the page.
  const local = new Set(['127.0.0.1', 'localhost', '[::1]']);
  const foreign = requests.filter((u) => !(u.startsWith('data:') || u.startsWith('blob:') || local.has(new URL(u).hostname)));
  assert.deepEqual(foreign, [], 'requests that left localhost');
  log(`${requests.length} requests, all to ${new URL(base).host}`);
  assert.deepEqual(problems, [], 'console and page errors');
  log('no console errors');
} catch (e) {
  await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
  if (problems.length) console.log(problems.join('\n'));
  console.log(`FAILED: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
