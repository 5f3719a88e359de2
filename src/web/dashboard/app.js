// The streamq dashboard: Ask, Live, Insights & alerts, Schema. Plain DOM, no third-party code;
// charts are SVG drawn by the server (/api/chart, /api/sources/chart). Everything it loads comes
// from the server that served it.
'use strict';

const $ = (sel) => document.querySelector(sel);

/** Builds an element: h('td', {class: 'num'}, 'text', childNode). Text is never parsed as HTML. */
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

async function api(path, opts) {
  const r = await fetch(path, opts);
  let body = null;
  try { body = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const msg = body && body.message ? body.message : `HTTP ${r.status}`;
    const err = new Error(msg);
    err.code = body && body.code;
    err.status = r.status;
    // A session that ended (expired, signed out elsewhere, token revoked): sign in again.
    if (r.status === 401 && !path.startsWith('/api/session') && !path.startsWith('/api/whoami')) showSignIn();
    throw err;
  }
  return body;
}
const post = (path, body, method = 'POST') =>
  api(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

function showError(el, err) {
  if (!err) { el.hidden = true; el.textContent = ''; return; }
  el.hidden = false;
  el.textContent = err.code ? `${err.code}: ${err.message}` : String(err.message || err);
}

const fmtNum = (v) => (Number.isInteger(v) ? v.toLocaleString('en-US') : Number(v.toPrecision(6)).toLocaleString('en-US', { maximumFractionDigits: 6 }));
function cell(v) {
  if (v === null || v === undefined) return h('td', { class: 'null' }, 'null');
  if (typeof v === 'number') return h('td', { class: 'num' }, fmtNum(v));
  if (typeof v === 'object') return h('td', {}, JSON.stringify(v));
  return h('td', {}, String(v));
}
function ago(iso) {
  if (!iso) return '';
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!isFinite(s)) return '';
  if (s < 90) return `${Math.max(0, Math.round(s))} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}
const timeOf = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '');

// ---------------------------------------------------------------- tables (shared)

const state = { tables: [], details: new Map(), tab: null };

async function loadTables() {
  const j = await api('/api/tables');
  state.tables = j.tables;
  return j.tables;
}
async function tableDetail(name) {
  if (!state.details.has(name)) state.details.set(name, await api(`/api/tables/${encodeURIComponent(name)}`));
  return state.details.get(name);
}
function fillSelect(sel, values, { keep = true, blank = null } = {}) {
  const prev = sel.value;
  sel.replaceChildren(...(blank !== null ? [h('option', { value: '' }, blank)] : []),
    ...values.map((v) => h('option', { value: v }, v)));
  if (keep && values.includes(prev)) sel.value = prev;
}

// ---------------------------------------------------------------- WebSocket

const ws = {
  sock: null, subs: new Map(), next: 1, backoff: 500, acked: 0,
  open() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    const s = new WebSocket(url);
    this.sock = s;
    s.onopen = () => {
      this.backoff = 500;
      for (const [id, sub] of this.subs) s.send(JSON.stringify({ ...sub.msg, id }));
    };
    s.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      if (m.type === 'subscribed') this.acked++;
      const sub = m.sub !== undefined ? this.subs.get(m.sub) : null;
      if (sub) sub.on(m);
      else if (m.type === 'error') console.warn('streamq /ws:', m.message);
    };
    s.onclose = () => {
      this.sock = null;
      setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  },
  subscribe(msg, on) {
    const id = `s${this.next++}`;
    this.subs.set(id, { msg, on });
    if (this.sock && this.sock.readyState === WebSocket.OPEN) this.sock.send(JSON.stringify({ ...msg, id }));
    return id;
  },
  unsubscribe(id) {
    if (!this.subs.delete(id)) return;
    if (this.sock && this.sock.readyState === WebSocket.OPEN) this.sock.send(JSON.stringify({ unsubscribe: id }));
  },
};

// ---------------------------------------------------------------- Ask

const RECENT_KEY = 'streamq.recent-questions';
const recent = {
  list() { try { return JSON.parse(localStorage.getItem(RECENT_KEY)) || []; } catch (_) { return []; } },
  add(q) {
    const l = [q, ...this.list().filter((x) => x !== q)].slice(0, 8);
    localStorage.setItem(RECENT_KEY, JSON.stringify(l));
    this.render();
  },
  render() {
    const l = this.list();
    $('#recent').replaceChildren(...(l.length ? [h('span', { class: 'hint' }, 'Recent:')] : []),
      ...l.map((q) => h('button', { type: 'button', class: 'chip', onclick: () => { $('#question').value = q; ask(); } }, q)));
  },
};

/** What a partial answer (tables split with other nodes of a consumer group) leaves out. */
function partialNote(partial) {
  if (!partial) return '';
  const miss = partial.missing.map((m) => `${m.table} partition ${m.partitions.join(', ')}`);
  return ` · partial: ${miss.join('; ')} on another node`;
}

function renderResult(columns, rows, meta) {
  const names = columns.map((c) => (typeof c === 'string' ? c : c.name));
  const shown = rows.slice(0, 500);
  $('#result').replaceChildren(h('table', { class: 'grid-table', id: 'result-table' },
    h('thead', {}, h('tr', {}, names.map((n) => h('th', {}, n)))),
    h('tbody', {}, shown.map((r) => h('tr', {}, r.map(cell))))));
  const more = rows.length > shown.length ? ` (first ${shown.length} shown)` : '';
  $('#result-meta').textContent = `${rows.length.toLocaleString('en-US')} rows${more}${meta ? ' · ' + meta : ''}`;
}

/** A chart when the result is a series or a breakdown: a label or time column and a number. */
function chartable(columns, rows) {
  if (rows.length < 2 || columns.length < 2) return false;
  const numeric = (i) => rows.every((r) => r[i] === null || typeof r[i] === 'number');
  const ys = columns.map((_, i) => i).filter((i) => i > 0 && numeric(i));
  return ys.length > 0 && ys.length <= 6;
}

let chartSeq = 0;
async function drawChart(sql, columns, rows) {
  const box = $('#chart');
  const seq = ++chartSeq;
  if (!chartable(columns, rows)) { box.hidden = true; box.replaceChildren(); return; }
  const width = Math.max(320, Math.min(900, Math.round(box.parentElement.clientWidth - 20)));
  try {
    const j = await post('/api/chart', { sql, format: 'svg', width, height: Math.round(width * 0.45) });
    if (seq !== chartSeq) return;
    const img = h('img', { id: 'chart-img', alt: `${j.spec.kind} chart of ${j.spec.y.join(', ')} by ${j.spec.x}`, src: `data:${j.mime_type};base64,${j.image}` });
    box.replaceChildren(img);
    box.hidden = false;
  } catch (e) {
    if (seq !== chartSeq) return;
    box.hidden = true;
    box.replaceChildren();
  }
}

async function runSql() {
  const sql = $('#sql').value.trim();
  if (!sql) return;
  showError($('#result-error'), null);
  $('#result-meta').textContent = 'running…';
  try {
    const j = await post('/api/sql', { sql });
    renderResult(j.columns, j.rows, `${j.took_ms} ms${j.truncated ? ' · truncated' : ''}${partialNote(j.partial)}`);
    drawChart(sql, j.columns.map((c) => c.name), j.rows);
  } catch (e) {
    $('#result-meta').textContent = '';
    $('#result').replaceChildren();
    $('#chart').hidden = true;
    showError($('#result-error'), e);
  }
}

async function ask(ev) {
  if (ev) ev.preventDefault();
  const q = $('#question').value.trim();
  if (!q) return;
  const box = $('#answer');
  box.hidden = false;
  $('#answer-text').textContent = 'Thinking…';
  $('#clarify').hidden = true;
  showError($('#result-error'), null);
  try {
    const j = await post('/api/ask', { question: q });
    recent.add(q);
    if (j.clarify) {
      $('#answer-text').textContent = j.clarify;
      $('#clarify').hidden = false;
      $('#clarify').replaceChildren(...(j.candidates || []).map((c) =>
        h('button', { type: 'button', class: 'chip', onclick: () => { $('#question').value = c; ask(); } }, c)));
      return;
    }
    $('#answer-text').textContent = j.answer;
    $('#sql').value = j.sql;
    renderResult(j.columns, j.rows, `answered in ${Math.round(j.took_ms)} ms · confidence ${j.confidence.toFixed(2)}${partialNote(j.partial)}`);
    drawChart(j.sql, j.columns, j.rows);
  } catch (e) {
    $('#answer-text').textContent = '';
    box.hidden = true;
    showError($('#result-error'), e);
  }
}

// ---------------------------------------------------------------- Live

const tail = { sub: null, gen: 0, table: null, columns: [], rows: [], pending: [], count: 0, paused: false, max: 60 };

function tailHeader() {
  $('#tail').replaceChildren(h('thead', {}, h('tr', {},
    h('th', {}, 'op'), h('th', {}, 'time'), h('th', {}, 'partition/offset'),
    tail.columns.map((c) => h('th', {}, c)))), h('tbody', {}));
}

function flushTail() {
  if (!tail.pending.length) return;
  const body = $('#tail tbody');
  if (!body) return;
  const frames = tail.pending.splice(0).slice(-tail.max).reverse();
  const rows = frames.map((m) => h('tr', { class: 'fresh' },
    h('td', {}, h('span', { class: `op op-${m.op}`, title: { c: 'insert', u: 'update', d: 'delete', r: 'snapshot' }[m.op] || m.op }, m.op)),
    h('td', {}, timeOf(m.ts)), h('td', { class: 'num' }, `${m.partition}/${m.offset}`),
    tail.columns.map((c) => cell(m.row[c]))));
  body.prepend(...rows);
  while (body.children.length > tail.max) body.lastElementChild.remove();
}

async function watchTail(ev) {
  if (ev) ev.preventDefault();
  const table = $('#tail-table').value;
  if (!table) return;
  if (tail.sub) ws.unsubscribe(tail.sub);
  tail.sub = null;
  showError($('#tail-error'), null);
  // a newer call (a table change and a submit at once) supersedes this one across the await,
  // so only one subscription ever feeds the tail
  const gen = ++tail.gen;
  const detail = await tableDetail(table).catch(() => null);
  if (gen !== tail.gen) return;
  if (tail.sub) ws.unsubscribe(tail.sub);
  tail.columns = detail ? detail.columns.map((c) => c.name) : [];
  tail.table = table; tail.count = 0; tail.pending = [];
  tailHeader();
  const filter = $('#tail-filter').value.trim();
  const msg = { subscribe: 'tail', table };
  if (filter) msg.filter = filter;
  $('#tail-meta').textContent = `connecting to ${table}…`;
  tail.sub = ws.subscribe(msg, (m) => {
    if (m.type === 'subscribed') {
      $('#tail-meta').textContent = `watching ${table}${filter ? ` where ${filter}` : ''} — waiting for changes`;
    } else if (m.type === 'change') {
      tail.count++;
      if (!tail.paused) tail.pending.push(m);
      if (tail.pending.length > tail.max * 4) tail.pending.splice(0, tail.pending.length - tail.max);
      $('#tail-meta').textContent = `watching ${table}${filter ? ` where ${filter}` : ''} — ${tail.count.toLocaleString('en-US')} changes received${tail.paused ? ' (paused)' : ''}`;
    } else if (m.type === 'error') {
      showError($('#tail-error'), { code: m.code, message: m.message });
      ws.unsubscribe(tail.sub); tail.sub = null;
      $('#tail-meta').textContent = '';
    }
  });
}

const charts = { topics: [], failed: new Set() };

function chartUrl(topic, metric, width) {
  const q = new URLSearchParams({ topic, metric, seconds: '300', width: String(width), height: String(Math.round(width * 0.34)), t: String(Date.now()) });
  return `/api/sources/chart?${q}`;
}

async function refreshSources() {
  const [src, rates] = await Promise.all([api('/api/sources'), api('/api/sources/rates?seconds=5')]);
  const latest = new Map();
  for (const s of rates.series) {
    const p = s.points[s.points.length - 1];
    if (p) latest.set(`${s.topic}/${s.partition}`, p);
  }
  const read = src.records_read !== null && src.records_read !== undefined ? `${src.records_read.toLocaleString('en-US')} records read` : '';
  $('#source-summary').textContent = [src.source, read, src.finished ? 'source finished' : null].filter(Boolean).join(' · ');
  $('#partitions').replaceChildren(
    h('thead', {}, h('tr', {}, ['topic', 'partition', 'applied offset', 'events/s', 'lag', 'state', 'restarts'].map((c) => h('th', {}, c)))),
    h('tbody', {}, src.partitions.map((p) => {
      const l = latest.get(`${p.topic}/${p.partition}`);
      return h('tr', {}, h('td', {}, p.topic), h('td', { class: 'num' }, p.partition), cell(p.applied_offset),
        cell(l ? Math.round(l[1] * 10) / 10 : null), cell(p.lag ?? (l ? l[2] : null)),
        h('td', {}, p.status.state + (p.status.reason ? `: ${p.status.reason}` : '')), cell(p.restarts));
    })));
  // Charts need two samples; a topic appears once it has them.
  const ready = [...new Set(rates.series.filter((s) => s.points.length > 0).map((s) => s.topic))].sort();
  const box = $('#rate-charts');
  if (ready.join('\n') !== charts.topics.join('\n')) {
    charts.topics = ready;
    box.replaceChildren(...ready.flatMap((t) => ['rate', 'lag'].map((m) =>
      h('figure', { dataset: { topic: t, metric: m } }, h('img', { alt: `${t} ${m === 'rate' ? 'events per second' : 'lag'}` })))));
  }
  for (const fig of box.children) {
    const width = Math.max(300, Math.min(640, Math.round(fig.clientWidth - 14)));
    const next = new Image();
    next.alt = fig.firstChild.alt;
    next.onload = () => fig.replaceChildren(next);
    next.src = chartUrl(fig.dataset.topic, fig.dataset.metric, width);
  }
}

// ---------------------------------------------------------------- Insights & alerts

const alerts = { rules: new Map(), history: [], insights: [], seen: new Set() };

// `{region: "EU"}` → "region = EU".
function pairs(obj) {
  return Object.entries(obj || {}).map(([k, v]) => `${k} = ${v}`).join(', ');
}

// Puts what `make` builds first in the feed `sel`, once per `key`, keeping at most `cap` items.
function prependOnce(sel, key, make, cap) {
  if (alerts.seen.has(key)) return;
  alerts.seen.add(key);
  const feed = $(sel);
  const empty = feed.querySelector('.empty');
  if (empty) empty.remove();
  feed.prepend(make());
  while (feed.children.length > cap) feed.lastElementChild.remove();
}

function insightItem(i, fresh) {
  const dims = pairs(i.dimension);
  return h('div', { class: `item insight${fresh ? ' new' : ''}`, dataset: { id: i.id } },
    h('div', {}, i.sentence),
    h('div', { class: 'when' }, `${i.kind.replace(/_/g, ' ')} · ${i.table}${dims ? ' · ' + dims : ''} · window ${timeOf(i.window && i.window.start)} – ${timeOf(i.window && i.window.end)}`));
}

function addInsight(i, fresh) {
  prependOnce('#insights', `i${i.id}`, () => insightItem(i, fresh), 200);
}

function historyItem(e, fresh) {
  const group = pairs(e.group);
  return h('div', { class: `item ${e.state}${fresh ? ' new' : ''}`, dataset: { rule: e.rule_id, state: e.state } },
    h('div', {}, h('strong', {}, e.state === 'firing' ? 'Firing' : 'Resolved'), ' — ', e.message),
    h('div', { class: 'when' }, `${e.rule_name || e.rule_id}${group ? ' · ' + group : ''} · at ${timeOf(e.at)} (event time) · detected ${timeOf(e.detected_at)}`));
}

function addHistory(e, fresh) {
  prependOnce('#history', `a${e.rule_id}/${e.seq}`, () => historyItem(e, fresh), 300);
}

function renderRules() {
  const list = [...alerts.rules.values()];
  let firing = 0;
  $('#rules').replaceChildren(...(list.length ? [] : [h('p', { class: 'empty' }, 'No rules yet.')]), ...list.map((r) => {
    const on = r.enabled !== false;
    let st;
    if (!on) st = h('span', { class: 'state off' }, 'disabled');
    else if (r.error) st = h('span', { class: 'state error', title: r.error }, 'cannot evaluate');
    else if (r.firing.length) { firing++; st = h('span', { class: 'state firing' }, `firing: ${r.firing.join(', ')}`); }
    else st = h('span', { class: 'state' }, 'ok');
    return h('div', { class: `rule${on ? '' : ' disabled'}`, dataset: { id: r.id } },
      h('div', { class: 'head' },
        h('span', { class: 'title' }, r.name || r.text || r.description),
        st,
        h('button', { type: 'button', class: 'small', onclick: () => toggleRule(r.id, !on) }, on ? 'Disable' : 'Enable'),
        h('button', { type: 'button', class: 'small danger', onclick: () => deleteRule(r.id) }, 'Delete')),
      h('div', { class: 'desc' }, `${r.id} · ${r.description}`),
      r.error ? h('div', { class: 'desc' }, r.error) : null);
  }));
  const badge = $('#firing-badge');
  badge.hidden = firing === 0;
  badge.textContent = String(firing);
}

async function loadRules() {
  const j = await api('/api/alerts');
  alerts.rules = new Map(j.rules.map((r) => [r.id, r]));
  renderRules();
  return j.rules;
}

async function toggleRule(id, enabled) {
  try {
    const r = await post(`/api/alerts/${encodeURIComponent(id)}`, { enabled }, 'PATCH');
    alerts.rules.set(r.id, r);
    renderRules();
  } catch (e) { showError($('#rule-error'), e); }
}

async function deleteRule(id) {
  try {
    await api(`/api/alerts/${encodeURIComponent(id)}`, { method: 'DELETE' });
    alerts.rules.delete(id);
    renderRules();
  } catch (e) { showError($('#rule-error'), e); }
}

async function createRule(body) {
  showError($('#rule-error'), null);
  try {
    const r = await post('/api/alerts', body);
    alerts.rules.set(r.id, r);
    renderRules();
    return r;
  } catch (e) { showError($('#rule-error'), e); return null; }
}

async function ruleFormTable() {
  const f = $('#rule-form');
  const name = f.table.value;
  if (!name) return;
  const d = await tableDetail(name).catch(() => null);
  if (!d) return;
  const numeric = d.columns.filter((c) => /INT|DOUBLE|FLOAT|DECIMAL|REAL/i.test(c.type)).map((c) => c.name);
  const text = d.columns.filter((c) => /CHAR|STRING|TEXT|BOOL/i.test(c.type)).map((c) => c.name);
  fillSelect(f.column, numeric, { blank: '—' });
  fillSelect(f.group_by, text, { blank: 'no grouping' });
}

function ruleFromForm() {
  const f = $('#rule-form');
  const filters = f.filters.value.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const i = s.indexOf('=');
    if (i < 1) throw new Error(`filter "${s}" is not column = value`);
    return { column: s.slice(0, i).trim(), value: s.slice(i + 1).trim().replace(/^'(.*)'$/, '$1') };
  });
  const measure = { agg: f.agg.value };
  if (['sum', 'avg', 'min', 'max'].includes(measure.agg)) measure.column = f.column.value;
  const value = Number(f.value.value);
  let condition;
  if (f.cond.value === 'change') condition = { change_pct: value };
  else if (f.cond.value === 'anomalous') condition = { anomalous: true };
  else condition = { op: f.cond.value, value: measure.agg === 'share' && value > 1 ? value / 100 : value };
  const rule = { table: f.table.value, measure, filters, window_ms: Math.round(Number(f.window.value) * 60000), condition };
  if (f.group_by.value) rule.group_by = f.group_by.value;
  if (f.name.value.trim()) rule.name = f.name.value.trim();
  return rule;
}

// ---------------------------------------------------------------- Search

/** A snippet is tantivy's HTML (escaped text, matches in <b>): only <b> survives. */
function snippetNode(html) {
  const span = h('span', { class: 'snippet' });
  span.innerHTML = String(html).replace(/<(?!\/?b>)/g, '&lt;');
  return span;
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const q = $('#search-q').value.trim();
  if (!q) return;
  showError($('#search-error'), null);
  const params = new URLSearchParams({ q, limit: '50' });
  if ($('#search-table').value) params.set('table', $('#search-table').value);
  $('#search-meta').textContent = 'searching…';
  try {
    const j = await api(`/api/search?${params}`);
    const keys = new Map(state.tables.map((t) => [t.name, t.primary_key || []]));
    $('#search-meta').textContent = `${j.hits.length} hits in ${j.took_ms} ms, best first`;
    $('#search-results').replaceChildren(
      h('thead', {}, h('tr', {}, ['score', 'table', 'key', 'match', 'changed'].map((c) => h('th', {}, c)))),
      h('tbody', {}, j.hits.map((hit) => h('tr', {},
        cell(Math.round(hit.score * 100) / 100), h('td', {}, hit.table),
        h('td', {}, (keys.get(hit.table) || []).map((k) => hit.row[k]).join(', ')),
        h('td', { class: 'wrap' }, snippetNode(hit.snippet)), h('td', {}, timeOf(hit.row._ts))))));
  } catch (e) {
    $('#search-meta').textContent = '';
    $('#search-results').replaceChildren();
    showError($('#search-error'), e.code === 'not_available' ? { message: `${e.message} — the text index is off; set text.enabled = true (or STREAMQ_TEXT_ENABLED=true) and restart` } : e);
  }
}

// ---------------------------------------------------------------- Schema

let schemaSelected = null;

async function renderSchema() {
  const tables = await loadTables();
  if (!schemaSelected && tables.length) schemaSelected = tables[0].name;
  $('#schema-tables').replaceChildren(
    h('thead', {}, h('tr', {}, ['table', 'key', 'columns', 'rows', 'last change', 'pending'].map((c) => h('th', {}, c)))),
    h('tbody', {}, tables.map((t) => h('tr', {
      class: `clickable${t.name === schemaSelected ? ' selected' : ''}`, dataset: { table: t.name },
      onclick: () => { schemaSelected = t.name; renderSchema(); },
    }, h('td', { title: `topic ${t.topic}` }, t.name), h('td', {}, (t.primary_key || []).join(', ')), cell(t.columns), cell(t.row_count),
      h('td', { title: t.freshness.last_change ? ago(t.freshness.last_change) : '' }, t.freshness.last_change ? timeOf(t.freshness.last_change) : '—'),
      cell(t.freshness.kafka_lag ?? t.freshness.pending_records)))));
  if (schemaSelected) {
    state.details.delete(schemaSelected);
    const d = await tableDetail(schemaSelected);
    $('#schema-title').textContent = `Columns of ${d.name}`;
    $('#schema-meta').textContent = `topic ${d.topic} · key ${(d.primary_key || []).join(', ') || '—'} · ${d.row_count.toLocaleString('en-US')} rows`;
    $('#schema-columns').replaceChildren(
      h('thead', {}, h('tr', {}, ['column', 'original name', 'type', 'logical type', 'key', 'personal data'].map((c) => h('th', {}, c)))),
      h('tbody', {}, d.columns.map((c) => h('tr', {}, h('td', {}, c.name), h('td', {}, c.original), h('td', {}, c.type),
        h('td', {}, c.logical || ''), h('td', {}, c.primary_key ? 'key' : ''),
        h('td', { title: c.personal_data ? `classified by ${c.personal_data.by}` : '' },
          c.personal_data ? `${c.personal_data.class}${c.personal_data.masked ? ' · masked for you' : ''}` : '')))));
  }
  let q;
  try {
    q = await api('/api/quarantine?limit=100');
  } catch (e) {
    if (e.status !== 403) throw e;
    $('#quarantine-count').textContent = '— needs an analyst token';
    $('#quarantine').replaceChildren();
    return;
  }
  $('#quarantine-count').textContent = `— ${q.count.toLocaleString('en-US')} in all`;
  $('#quarantine').replaceChildren(
    h('thead', {}, h('tr', {}, ['when', 'topic', 'partition', 'offset / position', 'reason', 'raw'].map((c) => h('th', {}, c)))),
    h('tbody', {}, q.entries.length ? q.entries.map((e) => h('tr', {}, h('td', {}, timeOf(e.at)), cell(e.topic), cell(e.partition),
      cell(e.offset ?? e.position), h('td', { class: 'wrap' }, e.reason),
      h('td', { class: 'wrap' }, h('pre', { class: 'raw' }, e.raw.length > 300 ? e.raw.slice(0, 300) + '…' : e.raw)))) :
      [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'Nothing quarantined.'))]));
}

// ---------------------------------------------------------------- status, tabs, start

async function refreshStatus() {
  const el = $('#status');
  try {
    const r = await fetch('/readyz');
    const j = await r.json();
    el.className = `status ${r.ok ? 'ok' : 'bad'}`;
    const src = j.source || (j.checks && j.checks.source) || '';
    $('#status-text').textContent = r.ok ? `ready${typeof src === 'string' && src ? ' · ' + src : ''}` : `not ready${j.reason ? ': ' + j.reason : ''}`;
  } catch (_) {
    el.className = 'status bad';
    $('#status-text').textContent = 'server unreachable';
  }
}

async function refreshTableLists() {
  const tables = await loadTables();
  const names = tables.map((t) => t.name);
  fillSelect($('#tail-table'), names);
  fillSelect($('#search-table'), names, { blank: 'all tables' });
  const f = $('#rule-form');
  const before = f.table.value;
  fillSelect(f.table, names);
  if (f.table.value !== before) ruleFormTable();
  if (!$('#rule-text').placeholder.includes('—') && names.length) {
    $('#rule-text').placeholder = `alert me when … — e.g. "alert me when ${names[0].split('.').pop()} per minute exceed 100"`;
  }
}

function showTab(name) {
  if (!['ask', 'live', 'alerts', 'search', 'schema'].includes(name)) name = 'ask';
  state.tab = name;
  for (const a of document.querySelectorAll('#tabs a')) a.setAttribute('aria-selected', String(a.dataset.tab === name));
  for (const s of document.querySelectorAll('section.tab')) s.hidden = s.id !== `tab-${name}`;
  document.title = `streamq — ${document.querySelector(`#tabs a[data-tab="${name}"]`).firstChild.textContent.trim()}`;
  refreshVisible();
}

function quietly(p) { return p.catch((e) => console.warn('streamq:', e.message || e)); }

function refreshVisible() {
  if (state.tab === 'live') quietly(refreshSources());
  if (state.tab === 'schema') quietly(renderSchema());
}

function start() {
  $('#ask-form').addEventListener('submit', ask);
  $('#run-sql').addEventListener('click', runSql);
  $('#sql').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runSql(); } });
  $('#tail-form').addEventListener('submit', watchTail);
  $('#search-form').addEventListener('submit', search);
  $('#tail-table').addEventListener('change', () => watchTail());
  $('#tail-pause').addEventListener('click', () => {
    tail.paused = !tail.paused;
    $('#tail-pause').textContent = tail.paused ? 'Resume' : 'Pause';
  });
  $('#rule-english').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('#rule-text').value.trim();
    if (!text) return;
    if (await createRule({ text })) $('#rule-text').value = '';
  });
  $('#rule-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    let rule;
    try { rule = ruleFromForm(); } catch (err) { showError($('#rule-error'), err); return; }
    if (await createRule(rule)) $('#rule-form').reset();
  });
  $('#rule-form').table.addEventListener('change', ruleFormTable);
  window.addEventListener('hashchange', () => showTab(location.hash.slice(1)));
  recent.render();

  ws.subscribe({ subscribe: 'insights' }, (m) => { if (m.type === 'insight' && m.insight) addInsight(m.insight, true); });
  ws.subscribe({ subscribe: 'alerts' }, (m) => {
    if (m.type !== 'alert' || !m.alert) return;
    addHistory(m.alert, true);
    quietly(loadRules());
  });
  ws.open();

  showTab(location.hash.slice(1));
  quietly(refreshStatus());
  quietly(refreshTableLists().then(() => { if (!tail.sub && $('#tail-table').value) watchTail(); }));
  quietly(api('/api/insights?limit=100').then((j) => j.insights.forEach((i) => addInsight(i, false))));
  quietly(loadRules().then(async (rules) => {
    for (const r of rules) {
      const j = await api(`/api/alerts/${encodeURIComponent(r.id)}/events`);
      j.events.forEach((e) => addHistory(e, false));
    }
  }));
  setInterval(() => { quietly(refreshStatus()); quietly(refreshTableLists()); }, 5000);
  setInterval(() => { if (state.tab === 'live') quietly(refreshSources()); }, 2000);
  setInterval(() => { if (state.tab === 'schema') quietly(renderSchema()); }, 5000);
  setInterval(() => { if (state.tab === 'alerts') quietly(loadRules()); }, 5000);
  setInterval(flushTail, 250);
}

// ---------------------------------------------------------------- Signing in

/** The sign-in page instead of the tabs (a 401 anywhere ends the session). */
function showSignIn() {
  for (const el of document.querySelectorAll('main, #tabs, #status')) el.hidden = true;
  $('#who').hidden = true;
  $('#signin').hidden = false;
  $('#signin-token').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const token = $('#signin-token').value.trim();
  if (!token) return;
  try {
    await post('/api/session', { token });
    $('#signin-token').value = '';
    location.reload();
  } catch (err) {
    showError($('#signin-error'), err);
  }
}

async function signOut() {
  try { await api('/api/session', { method: 'DELETE' }); } catch (_) { /* signed out anyway */ }
  location.reload();
}

/** Who is signed in; what their role cannot do is said where it would be tried. */
function showWho(me) {
  if (!me) return;
  $('#who').hidden = false;
  $('#who-text').textContent = me.auth ? `${me.name} (${me.role})` : 'open: no tokens configured';
  $('#sign-out').hidden = !me.auth;
  if (me.role === 'viewer') {
    const note = (sel, text) => $(sel).before(h('p', { class: 'notice' }, text));
    note('#ask-form', 'A viewer token reads tables, changes, search, insights and alerts; questions, SQL and live tails need an analyst token. Personal data is masked.');
    note('#tail-form', 'Live tails need an analyst token.');
  }
}

async function boot() {
  $('#signin-form').addEventListener('submit', signIn);
  $('#sign-out').addEventListener('click', signOut);
  let me = null;
  try {
    me = await api('/api/whoami');
  } catch (err) {
    if (err.status === 401) { showSignIn(); return; }
  }
  showWho(me);
  start();
}

boot();
