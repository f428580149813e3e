// The asx report page: draws the session data that asx embedded in the
// asx-data block with TradingView Lightweight Charts (inlined before this
// script as LightweightCharts). window.asxReport exposes what was drawn, for
// the browser tests and for anyone scripting the page.
(function () {
  'use strict';
  const LC = window.LightweightCharts;
  const data = JSON.parse(document.getElementById('asx-data').textContent);
  // lua-cjson writes an empty array as {}.
  const arr = (v) => (Array.isArray(v) ? v : []);
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const UP = color('--up'), DOWN = color('--down'), ACCENT = color('--accent');
  const PALETTE = [ACCENT, '#ff9800', '#9c27b0', '#00897b', '#795548', '#e91e63', '#607d8b', '#3f51b5'];

  const two = (n) => (n < 10 ? '0' : '') + n;
  // Session time in seconds as m:ss, or h:mm:ss past an hour.
  function clock(t) {
    t = Math.floor(t);
    const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    return h > 0 ? h + ':' + two(m) + ':' + two(s) : m + ':' + two(s);
  }
  function label(iv) {
    if (iv % 86400 === 0) return iv / 86400 + ' d';
    if (iv % 3600 === 0) return iv / 3600 + ' h';
    if (iv % 60 === 0) return iv / 60 + ' min';
    return iv + ' s';
  }
  function num(v, digits) {
    if (v === null || v === undefined) return '-';
    if (Number.isInteger(v)) return v.toLocaleString('en-US');
    return v.toLocaleString('en-US', { minimumFractionDigits: digits ?? 2, maximumFractionDigits: digits ?? 2 });
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function row(table, cells, head) {
    const tr = el('tr');
    for (const c of cells) {
      const numeric = typeof c === 'number';
      tr.appendChild(el(head ? 'th' : 'td', numeric ? { class: 'num' } : {}, numeric ? num(c) : c));
    }
    table.appendChild(tr);
  }
  // Fills a table with rows (the first its head) in place: a cell's text
  // changes where it differs, rows come and go at the end only, so that a
  // table the live page fills again on every message neither flickers nor
  // grows.
  function fill(table, rows) {
    rows.forEach((cells, i) => {
      const tr = table.rows[i] || table.appendChild(el('tr'));
      cells.forEach((c, j) => {
        const numeric = typeof c === 'number';
        const tag = i === 0 ? 'TH' : 'TD';
        let cell = tr.cells[j];
        if (!cell || cell.tagName !== tag) {
          const made = el(tag.toLowerCase());
          cell = cell ? (tr.replaceChild(made, cell), made) : tr.appendChild(made);
        }
        const text = numeric ? num(c) : String(c);
        if (cell.textContent !== text) cell.textContent = text;
        if (cell.className !== (numeric ? 'num' : '')) cell.className = numeric ? 'num' : '';
      });
      while (tr.cells.length > cells.length) tr.deleteCell(-1);
    });
    while (table.rows.length > rows.length) table.deleteRow(-1);
  }
  function empty(container, text) {
    container.appendChild(el('div', { class: 'empty' }, text));
  }

  const session = data.session;
  // What ended the session: its duration only when it reached it, as every
  // agent may finish before (the page said "duration" then), and nothing
  // yet for the page of a session that goes on (report() at the prompt).
  const ended = !session.state || session.state === 'ended';
  const stoppedBy = data.live ? '-' : session.stopped_by ||
    (!ended ? 'not yet (' + session.state + ')' :
      session.duration !== null && session.session_time >= session.duration ? 'duration' : 'all agents done');
  const summary = data.summary;
  let candles = arr(data.candles);
  let activity = arr(data.activity);
  let finest = data.interval;

  // ---- Header ------------------------------------------------------------
  document.getElementById('title').textContent = data.title;
  const facts = document.getElementById('facts');
  function drawFacts() {
    facts.replaceChildren();
    for (const [k, v] of [
      ['seed', String(session.seed)], ['clock', session.clock],
      ['session time', clock(session.session_time)], ['trades', num(summary.trades)],
      ['volume', num(summary.volume)], ['last', num(summary.close)],
      [data.live ? 'state' : 'stopped by', data.live ? data.live.state || 'running' : stoppedBy],
    ]) {
      const d = el('div');
      d.appendChild(el('dt', {}, k));
      d.appendChild(el('dd', {}, v));
      facts.appendChild(d);
    }
  }
  drawFacts();

  // ---- Candles at an interval ----------------------------------------------
  // The finest candles merged into intervals of iv seconds (a multiple of
  // the finest), as the session would have made them.
  function candlesAt(iv) {
    const out = [];
    for (const [t, o, h, l, c, v] of candles) {
      const b = Math.floor(t / iv) * iv;
      const last = out[out.length - 1];
      if (last && last.time === b) {
        last.high = Math.max(last.high, h);
        last.low = Math.min(last.low, l);
        last.close = c;
        last.volume += v;
      } else {
        out.push({ time: b, open: o, high: h, low: l, close: c, volume: v });
      }
    }
    return out;
  }
  function activityAt(iv) {
    const out = [];
    for (const [t, tr, o, c] of activity) {
      const b = Math.floor(t / iv) * iv;
      const last = out[out.length - 1];
      if (last && last.time === b) {
        last.trades += tr; last.orders += o; last.cancels += c;
      } else {
        out.push({ time: b, trades: tr, orders: o, cancels: c });
      }
    }
    return out;
  }

  // Intervals offered: the classic 1 s, 10 s, 1 min and 5 min, and longer
  // ones for sessions that last ten of them; none finer than the data.
  function offered() {
    const span = Math.max(session.session_time, finest);
    return arr(data.intervals).filter((iv) => iv >= finest && (iv <= 300 || span >= 10 * iv));
  }
  let intervals = offered();
  // The default: the finest that draws at most 300 candles.
  let current = intervals.find((iv) => Math.max(session.session_time, finest) / iv <= 300) ||
    intervals[intervals.length - 1];

  // Charts take their containers' size now, so that fitContent sees the
  // real width, and again when the window changes.
  const charts = [];
  function chartIn(make, container, options) {
    const c = make(container, Object.assign({ width: container.clientWidth, height: container.clientHeight }, options));
    charts.push([c, container]);
    return c;
  }
  window.addEventListener('resize', () => {
    for (const [c, container] of charts) c.resize(container.clientWidth, container.clientHeight);
  });
  // A price scale steps its tick marks down from the top of its range: a
  // range narrow beside its numbers (a flat candle at 9007199254740990,
  // near 2^53) made a step smaller than the spacing of doubles there, which
  // never moved, and the page hung. Every series widens its range to at
  // least 2^-40 of its numbers: 8,192 at 2^53, nothing at ordinary prices.
  function wide(baseImplementation) {
    const info = baseImplementation();
    if (!info || !info.priceRange) return info;
    const r = info.priceRange;
    const gap = Math.max(Math.abs(r.minValue), Math.abs(r.maxValue)) * 2 ** -40 - (r.maxValue - r.minValue);
    if (gap > 0) {
      r.minValue -= gap / 2;
      r.maxValue += gap / 2;
    }
    return info;
  }
  const base = {
    layout: { background: { color: '#ffffff' }, textColor: '#3b4150', fontSize: 12,
      panes: { separatorColor: '#e3e6ea', enableResize: true } },
    grid: { vertLines: { color: '#f0f2f5' }, horzLines: { color: '#f0f2f5' } },
    localization: { timeFormatter: clock, priceFormatter: (p) => num(p) },
    timeScale: { timeVisible: true, secondsVisible: true, borderColor: '#e3e6ea',
      tickMarkFormatter: (t) => clock(t) },
    rightPriceScale: { borderColor: '#e3e6ea' },
    crosshair: { mode: LC.CrosshairMode.Normal },
  };

  // ---- Price chart: candles, volume, activity -------------------------------
  const priceEl = document.getElementById('chart-price');
  const price = chartIn(LC.createChart, priceEl, base);
  const candleSeries = price.addSeries(LC.CandlestickSeries, {
    autoscaleInfoProvider: wide, upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
    priceFormat: { type: 'price', precision: 0, minMove: 1 },
  }, 0);
  const volumeSeries = price.addSeries(LC.HistogramSeries, {
    autoscaleInfoProvider: wide, priceFormat: { type: 'volume' }, priceLineVisible: false, lastValueVisible: false,
  }, 1);
  const ordersSeries = price.addSeries(LC.LineSeries, {
    autoscaleInfoProvider: wide, color: '#9aa3b2', lineWidth: 1, priceFormat: { type: 'volume' }, title: 'orders',
    priceLineVisible: false, lastValueVisible: false,
  }, 2);
  const tradesSeries = price.addSeries(LC.HistogramSeries, {
    autoscaleInfoProvider: wide, color: ACCENT, priceFormat: { type: 'volume' }, title: 'trades',
    priceLineVisible: false, lastValueVisible: false,
  }, 2);
  // The candles take most of the height; the panes below share the rest.
  price.panes()[0].setStretchFactor(3);
  price.panes()[1].setStretchFactor(1);
  price.panes()[2].setStretchFactor(1);
  const priceEmpty = el('div', { class: 'empty' }, data.live ? 'No trades yet' : 'No trades in this session');
  priceEmpty.hidden = candles.length > 0;
  priceEl.appendChild(priceEmpty);

  const legend = document.getElementById('legend');
  const candleCount = (n, iv) => n + (n === 1 ? ' candle of ' : ' candles of ') + label(iv);
  const drawn = { candles: 0, volume: 0 };
  function draw(iv) {
    current = iv;
    const cs = candlesAt(iv);
    // Every interval of the session is on the time axis, those without a
    // trade as gaps, so that the candles stand where they happened.
    const bars = [];
    const end = Math.floor(session.session_time / iv) * iv;
    let j = 0;
    for (let t = 0; t <= end || j < cs.length; t += iv) {
      const c = cs[j];
      if (c && c.time === t) {
        bars.push({ time: t, open: c.open, high: c.high, low: c.low, close: c.close });
        j++;
      } else {
        bars.push({ time: t });
      }
    }
    candleSeries.setData(bars);
    volumeSeries.setData(cs.map((c) => ({ time: c.time, value: c.volume,
      color: c.close >= c.open ? UP + '99' : DOWN + '99' })));
    const act = activityAt(iv);
    tradesSeries.setData(act.map((a) => ({ time: a.time, value: a.trades })));
    ordersSeries.setData(act.map((a) => ({ time: a.time, value: a.orders })));
    // The whole session, gaps included (fitContent leaves out the gaps at
    // the ends).
    price.timeScale().setVisibleLogicalRange({ from: -0.5, to: bars.length - 0.5 });
    drawn.candles = candleSeries.data().filter((b) => b.open !== undefined).length;
    drawn.volume = volumeSeries.data().reduce((s, p) => s + p.value, 0);
    for (const b of document.querySelectorAll('#intervals button')) {
      b.setAttribute('aria-pressed', String(Number(b.dataset.interval) === iv));
    }
    legend.textContent = candleCount(cs.length, iv);
  }
  const buttons = document.getElementById('intervals');
  function drawButtons() {
    buttons.replaceChildren();
    for (const iv of intervals) {
      const b = el('button', { type: 'button', 'data-interval': String(iv) }, label(iv));
      b.addEventListener('click', () => draw(iv));
      buttons.appendChild(b);
    }
  }
  drawButtons();
  price.subscribeCrosshairMove((p) => {
    const c = p.time !== undefined && p.seriesData.get(candleSeries);
    if (!c || c.open === undefined) { legend.textContent = candleCount(drawn.candles, current); return; }
    const v = p.seriesData.get(volumeSeries);
    legend.textContent = clock(c.time) + '  O ' + num(c.open) + '  H ' + num(c.high) + '  L ' + num(c.low) +
      '  C ' + num(c.close) + '  V ' + num(v ? v.value : 0);
  });

  // ---- Spread and strategy values, sampled each period ----------------------
  const samplesEl = document.getElementById('chart-samples');
  const samples = chartIn(LC.createChart, samplesEl, base);
  const spreadSeries = samples.addSeries(LC.LineSeries, {
    autoscaleInfoProvider: wide, color: '#ff9800', lineWidth: 1, lineType: LC.LineType.WithSteps, title: 'spread',
    priceFormat: { type: 'price', precision: 0, minMove: 1 },
  }, 0);
  const points = (xs) => arr(xs).map(([t, v]) => ({ time: t, value: v }));
  let spread = arr(data.spread);
  spreadSeries.setData(points(spread));
  // Keyed by strategy names, which users choose: objects without a
  // prototype, where a strategy called __proto__ or constructor is a key
  // like any other (on {}, values.__proto__ = x would set the prototype).
  const values = Object.assign(Object.create(null), data.values);
  const valueSeries = Object.create(null);
  let k = 0;
  // One line per name: the data names each strategy once, and a line added
  // twice for a name would leave the first drawn, never updated.
  function addValues(name) {
    if (name in valueSeries) return;
    valueSeries[name] = samples.addSeries(LC.LineSeries, {
      autoscaleInfoProvider: wide, color: PALETTE[k++ % PALETTE.length], lineWidth: 2, title: name,
      priceFormat: { type: 'price', precision: 2, minMove: 0.01 },
    }, 1);
    values[name] = arr(values[name]);
    valueSeries[name].setData(points(values[name]));
  }
  for (const st of arr(data.strategies)) addValues(st.name);
  if (samples.panes()[1]) samples.panes()[1].setStretchFactor(2);
  samples.timeScale().fitContent();
  const sampled = document.getElementById('sampled');
  const drawSampled = () => {
    sampled.textContent = 'sampled every ' + label(data.sample_period) + ' of session time';
  };
  drawSampled();
  const samplesEmpty = el('div', { class: 'empty' }, 'No moment with both a bid and an ask');
  samplesEmpty.hidden = spread.length > 0;
  samplesEl.appendChild(samplesEmpty);

  // ---- Depth and ladder: the book -----------------------------------------------
  const depthEl = document.getElementById('chart-depth');
  const depth = chartIn(LC.createOptionsChart, depthEl, Object.assign({}, base, {
    localization: { priceFormatter: (p) => num(p) },
    timeScale: { borderColor: '#e3e6ea' },
  }));
  const area = (c) => ({ autoscaleInfoProvider: wide, lineColor: c, topColor: c + '55', bottomColor: c + '08', lineWidth: 2,
    lineType: LC.LineType.WithSteps, priceFormat: { type: 'volume' }, priceLineVisible: false });
  const bidSeries = depth.addSeries(LC.AreaSeries, area(UP));
  const askSeries = depth.addSeries(LC.AreaSeries, area(DOWN));
  const depthEmpty = el('div', { class: 'empty' }, 'The book is empty');
  depthEl.appendChild(depthEmpty);
  const ladder = document.getElementById('ladder');
  // The ladder as drawn, [bids, asks] of [price, amount, orders], for tests.
  let ladderShown = [[], []];

  function drawBook(bids, asks) {
    let cum = 0;
    const bidPts = bids.map(([p, a]) => ({ time: p, value: (cum += a) })).reverse();
    cum = 0;
    const askPts = asks.map(([p, a]) => ({ time: p, value: (cum += a) }));
    // The horizontal scale spaces points evenly, as a time scale spaces
    // bars: every whole price between the lowest bid and the highest ask is
    // a point, so that distances are prices (up to a few thousand ticks).
    const lo = bidPts.length ? bidPts[0].time : askPts.length ? askPts[0].time : 0;
    const hi = askPts.length ? askPts[askPts.length - 1].time : lo;
    if (hi - lo <= 5000) {
      const have = new Set(bidPts.map((p) => p.time));
      for (let p = lo; p <= hi; p++) if (!have.has(p)) bidPts.push({ time: p });
      bidPts.sort((a, b) => a.time - b.time);
    }
    bidSeries.setData(bidPts);
    askSeries.setData(askPts);
    depth.timeScale().fitContent();
    depthEmpty.hidden = bids.length + asks.length > 0;

    ladder.replaceChildren();
    row(ladder, ['orders', 'bid size', 'bid', 'ask', 'ask size', 'orders'], true);
    const top = 10;
    ladderShown = [bids.slice(0, top), asks.slice(0, top)];
    const maxAmount = Math.max(1, ...bids.slice(0, top).map((l) => l[1]), ...asks.slice(0, top).map((l) => l[1]));
    for (let i = 0; i < top && (i < bids.length || i < asks.length); i++) {
      const tr = el('tr');
      const b = bids[i], a = asks[i];
      tr.appendChild(el('td', {}, b ? num(b[2]) : ''));
      const bs = el('td', { class: 'bid' }, b ? num(b[1]) : '');
      if (b) {
        const bar = el('span', { class: 'bar bid' });
        bar.style.width = (100 * b[1] / maxAmount) + '%';
        bs.appendChild(bar);
      }
      tr.appendChild(bs);
      tr.appendChild(el('td', { class: 'bid' }, b ? num(b[0]) : ''));
      tr.appendChild(el('td', { class: 'ask' }, a ? num(a[0]) : ''));
      const as = el('td', { class: 'ask' }, a ? num(a[1]) : '');
      if (a) {
        const bar = el('span', { class: 'bar ask' });
        bar.style.width = (100 * a[1] / maxAmount) + '%';
        as.appendChild(bar);
      }
      tr.appendChild(as);
      tr.appendChild(el('td', {}, a ? num(a[2]) : ''));
      ladder.appendChild(tr);
    }
    if (bids.length + asks.length === 0) row(ladder, ['', '', 'empty', 'book', '', '']);
  }
  drawBook(arr(data.book && data.book.bids), arr(data.book && data.book.asks));

  // ---- Tables -----------------------------------------------------------------
  const sum = document.getElementById('summary');
  const strat = document.getElementById('strategies');
  // The live page draws them again from each `tables` message.
  function drawTables(sm, strategies) {
    fill(sum, [['orders', 'trades', 'volume', 'open', 'high', 'low', 'close', 'VWAP', 'orders/wall s'],
      [sm.orders, sm.trades, sm.volume, sm.open ?? '-', sm.high ?? '-', sm.low ?? '-', sm.close ?? '-',
        sm.vwap === null ? '-' : Number(sm.vwap.toFixed(2)), Math.round(sm.orders_per_sec)]]);
    const rows = [['strategy', 'agents', 'running', 'finished', 'failed', 'stopped', 'start value', 'mean value',
      'best value']];
    for (const st of arr(strategies)) {
      rows.push([st.name, st.agents, st.running, st.finished, st.failed, st.stopped,
        Number(st.start_value.toFixed(2)), Number(st.mean_value.toFixed(2)), st.best_value ?? '-']);
    }
    fill(strat, rows);
  }
  drawTables(summary, data.strategies);
  const params = document.getElementById('params');
  const pairs = [['seed', String(session.seed)], ['clock', session.clock],
    ['duration', session.duration === null ? 'until stopped' : session.duration + ' s'],
    ['session time', session.session_time.toFixed(3) + ' s'], ['wall time', session.wall_time.toFixed(3) + ' s'],
    ['stopped by', stoppedBy], ['candle data', label(finest) + ' candles']];
  for (const st of arr(data.strategies)) {
    pairs.push(['strategy ' + st.name, st.agents + ' agents, money ' + num(st.money) + ', stocks ' + num(st.stocks)]);
  }
  for (const key of Object.keys(session.parameters || {}).sort()) {
    pairs.push(['--set ' + key, String(session.parameters[key])]);
  }
  for (const [kk, v] of pairs) row(params, [kk, v]);

  draw(current);

  // ---- Live mode (asx-host --http): the stream of /api/stream ------------------
  const live = { events: 0, candles: 0, series: 0, books: 0, trades: 0, sessions: 0, tables: 0, open: false };
  if (data.live) {
    document.getElementById('live').hidden = false;
    const status = document.getElementById('live-status');
    const agentsEl = document.getElementById('agents');
    const tradesEl = document.getElementById('trades');
    const tape = [];
    const on = (name, fn) => source.addEventListener(name, (e) => {
      live.events++;
      live[name === 'series' || name === 'tables' ? name : name + 's']++;
      fn(JSON.parse(e.data));
    });
    const source = new EventSource('/api/stream');
    source.onopen = () => { live.open = true; };
    // The server ends the stream once the session has ended, its last
    // session message saying so; a stream cut before (the server's write
    // timeout when a laptop wakes up, a network gone, asx-host killed) is
    // no end of the session, and a reload may find it still running.
    source.onerror = () => {
      live.open = false;
      status.textContent = data.live.state === 'ended' ? 'disconnected: the session has ended'
        : 'disconnected (reload to reconnect)';
      source.close();
    };
    // A message holds everything from session time m.from on: what the
    // page has from there is replaced (all of it when the interval or the
    // sampling period changed).
    on('candle', (m) => {
      const fresh = m.interval !== finest;
      if (fresh) {
        finest = m.interval;
        intervals = offered();
        if (current < finest) current = finest;
        drawButtons();
      }
      candles = (fresh ? [] : candles.filter((c) => c[0] < m.from)).concat(arr(m.candles));
      activity = (fresh ? [] : activity.filter((a) => a[0] < m.from)).concat(arr(m.activity));
      priceEmpty.hidden = candles.length > 0;
      const range = price.timeScale().getVisibleLogicalRange();
      draw(current);
      if (range && live.candles > 1) price.timeScale().setVisibleLogicalRange(range);
    });
    on('series', (m) => {
      const fresh = m.period !== data.sample_period;
      data.sample_period = m.period;
      const keep = (xs) => (fresh ? [] : xs.filter((x) => x[0] < m.from));
      spread = keep(spread).concat(arr(m.spread));
      spreadSeries.setData(points(spread));
      samplesEmpty.hidden = spread.length > 0;
      // A strategy spawned at the prompt since the page was made.
      for (const name of Object.keys(m.values || {})) if (!(name in valueSeries)) addValues(name);
      for (const name of Object.keys(valueSeries)) {
        values[name] = keep(values[name]).concat(arr((m.values || {})[name]));
        valueSeries[name].setData(points(values[name]));
      }
      drawSampled();
    });
    on('book', (m) => drawBook(arr(m.bids), arr(m.asks)));
    function addTrades(m) {
      for (const t of m) tape.unshift(t);
      tape.length = Math.min(tape.length, 20);
      tradesEl.replaceChildren();
      row(tradesEl, ['time', 'price', 'amount', 'aggressor'], true);
      for (const [t, p, a, side] of tape) {
        const tr = el('tr');
        tr.appendChild(el('td', {}, clock(t) + (t % 1).toFixed(3).slice(1)));
        tr.appendChild(el('td', { class: 'num ' + side }, num(p)));
        tr.appendChild(el('td', { class: 'num' }, num(a)));
        tr.appendChild(el('td', { class: side }, side));
        tradesEl.appendChild(tr);
      }
    }
    addTrades(arr(data.live.trades));
    on('trade', (m) => addTrades(arr(m)));
    on('tables', (m) => {
      Object.assign(summary, m.summary);
      data.strategies = m.strategies;
      drawTables(summary, m.strategies);
    });
    on('session', (m) => {
      session.session_time = m.time;
      summary.trades = m.trades;
      summary.volume = m.volume;
      summary.close = m.last;
      data.live.state = m.state;
      drawFacts();
      status.textContent = m.state + ' at ' + clock(m.time) + ', ' + m.clock + ' clock, ' +
        num(m.orders) + ' orders, ' + num(m.trades) + ' trades, last ' + num(m.last);
      agentsEl.replaceChildren();
      row(agentsEl, ['state', 'agents'], true);
      for (const k of Object.keys(m.agents || {}).sort()) row(agentsEl, [k, m.agents[k]]);
    });
    if (data.live.control) {
      const controls = document.getElementById('controls');
      controls.hidden = false;
      let speed = 1;
      for (const b of controls.querySelectorAll('button')) {
        b.addEventListener('click', () => {
          const action = b.dataset.action;
          const body = { action: action === 'slower' ? 'speed' : action, seconds: 1 };
          if (action === 'speed') body.x = (speed *= 2);
          if (action === 'slower') body.x = (speed /= 2);
          fetch('/api/control', { method: 'POST', body: JSON.stringify(body) })
            .then((r) => r.text().then((t) => { if (!r.ok) status.textContent = t.trim(); }));
        });
      }
    }
  }

  window.asxReport = {
    live,
    ladder: () => ladderShown,
    data,
    get intervals() { return intervals; },
    get interval() { return current; },
    setInterval: draw,
    drawn: () => ({ interval: current, candles: drawn.candles, volume: drawn.volume }),
    // What the page holds now, in the asx-data block's form: the live page
    // keeps it up to date from the stream.
    // The strategy value lines drawn, as { title, values: [[time, value], ...] }.
    lines: () => (samples.panes()[1] ? samples.panes()[1].getSeries() : [])
      .map((sr) => ({ title: sr.options().title, values: sr.data().map((p) => [p.time, p.value]) })),
    held: () => ({ interval: finest, candles, activity, sample_period: data.sample_period, spread, values }),
    // The summary and strategies tables as shown, a list of rows of cell
    // texts each.
    tables: () => [sum, strat].map((t) => Array.from(t.rows, (r) => Array.from(r.cells, (c) => c.textContent))),
    ready: true,
  };
})();
