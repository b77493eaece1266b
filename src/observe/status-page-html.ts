/**
 * The status page's HTML: one self-contained document (inline CSS and script, no external resource, works
 * offline). The script follows `/events` with the browser's EventSource and redraws every upstream from the data;
 * every value goes in with `textContent`. The one exception is each upstream's statechart, an HTML fragment the
 * server renders with every label escaped.
 */
import { STATECHART_CSS } from './statechart-html.js';

const PAGE_CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:16px;color:#222;background:#f6f7f9}
h1{font-size:18px;margin:0 0 4px}
.meta{color:#666;font-size:12px;margin-bottom:12px}
.live{display:inline-block;padding:1px 6px;border-radius:8px;background:#ddd}
.live.on{background:#d2f4d9;color:#1a7f37}
.upstream{background:#fff;border:1px solid #ddd;border-radius:10px;padding:12px;margin-bottom:14px}
.upstream h2{font-size:16px;margin:0 0 6px}
.upstream .url{color:#666;font-weight:normal;font-size:12px;margin-left:8px}
.state{font-family:ui-monospace,monospace;padding:2px 8px;border-radius:8px;background:#eee}
.state.ok{background:#d2f4d9;color:#14532d}
.state.trouble{background:#fff1c2;color:#6b4e00}
.state.bad{background:#ffd7d5;color:#82071e}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}
dt{color:#666}
dd{margin:0}
.chart{margin-top:8px;overflow-x:auto}
.empty{color:#999}
`;

const PAGE_SCRIPT = `(function () {
  var root = document.getElementById('upstreams');
  var live = document.getElementById('live');
  var time = document.getElementById('time');
  var version = document.getElementById('version');
  var FIELDS = [
    ['transport', 'transport'],
    ['tools', 'tools exposed'],
    ['filteredOut', 'filtered out'],
    ['counts', 'prompts, resources, templates'],
    ['lastError', 'last error'],
    ['reconnectAttempts', 'reconnect attempts'],
    ['waitingForSignIn', 'waiting for sign-in'],
    ['tokenExpiresAt', 'token expires'],
    ['inFlight', 'requests in flight']
  ];
  // One card per upstream, made once and then updated in place, so a redraw never moves what is on screen.
  var cards = {};
  function element(tag, cls, value) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (value !== undefined) el.textContent = value;
    return el;
  }
  function list(values) {
    return values.length ? values.join(', ') : '(none)';
  }
  function stateClass(state) {
    if (state.indexOf('connected.ready') === 0) return 'state ok';
    if (state === 'failed') return 'state bad';
    return 'state trouble';
  }
  function values(upstream) {
    return {
      transport: upstream.transport === 'sse' ? 'SSE' : upstream.transport === 'http' ? 'Streamable HTTP' : '-',
      tools: list(upstream.tools),
      filteredOut: list(upstream.filteredOut),
      counts: upstream.prompts + ', ' + upstream.resources + ', ' + upstream.resourceTemplates,
      lastError: upstream.lastError ? upstream.lastError.code + ': ' + upstream.lastError.message : '-',
      reconnectAttempts: String(upstream.reconnectAttempts),
      waitingForSignIn: upstream.waitingForSignIn ? 'yes' : 'no',
      tokenExpiresAt: upstream.tokenExpiresAt || '-',
      inFlight: String(upstream.inFlight)
    };
  }
  function cardFor(upstream) {
    var card = cards[upstream.name];
    if (card) return card;
    var section = element('section', 'upstream');
    section.setAttribute('data-upstream', upstream.name);
    var title = element('h2', '', upstream.name);
    var url = element('span', 'url', upstream.url);
    title.appendChild(url);
    section.appendChild(title);
    var state = element('span', 'state');
    state.setAttribute('data-field', 'state');
    section.appendChild(state);
    var dl = element('dl');
    var fields = {};
    FIELDS.forEach(function (field) {
      dl.appendChild(element('dt', '', field[1]));
      var dd = element('dd');
      dd.setAttribute('data-field', field[0]);
      dl.appendChild(dd);
      fields[field[0]] = dd;
    });
    section.appendChild(dl);
    var chart = element('div', 'chart');
    section.appendChild(chart);
    card = { section: section, url: url, state: state, fields: fields, chart: chart, chartHtml: null };
    cards[upstream.name] = card;
    return card;
  }
  function set(el, value) {
    if (el.textContent !== value) el.textContent = value;
  }
  function draw(data) {
    var status = data.status;
    set(version, status.version);
    set(time, status.time);
    var sections = [];
    status.upstreams.forEach(function (upstream) {
      var card = cardFor(upstream);
      set(card.url, upstream.url);
      set(card.state, upstream.state);
      card.state.className = stateClass(upstream.state);
      var shown = values(upstream);
      Object.keys(shown).forEach(function (key) { set(card.fields[key], shown[key]); });
      var html = data.charts[upstream.name] || '';
      if (card.chartHtml !== html) {
        // Rendered by the server with every label escaped.
        card.chart.innerHTML = html;
        card.chartHtml = html;
      }
      sections.push(card.section);
    });
    if (sections.length === 0) sections.push(element('p', 'empty', 'No upstreams configured.'));
    var same = sections.length === root.children.length && sections.every(function (section, i) { return root.children[i] === section; });
    if (!same) root.replaceChildren.apply(root, sections);
  }
  var source = new EventSource('events');
  source.onopen = function () { live.textContent = 'live'; live.className = 'live on'; };
  source.onerror = function () { live.textContent = 'disconnected'; live.className = 'live'; };
  source.onmessage = function (message) { draw(JSON.parse(message.data)); };
})();`;

export function statusPageHtml(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mcp-upstream-proxy: status</title>
<style nonce="${nonce}">${PAGE_CSS}${STATECHART_CSS}</style>
</head>
<body>
<h1>mcp-upstream-proxy</h1>
<div class="meta">version <span id="version">?</span> · status at <span id="time">?</span> · <span id="live" class="live">connecting</span> · <a href="status.json">status.json</a> · <a href="inspector">Stately inspector</a></div>
<main id="upstreams"><p class="empty">Waiting for the first status…</p></main>
<script nonce="${nonce}">${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/**
 * The page that relays the inspector feed to the Stately inspector UI in an iframe, as `@statelyai/inspect`'s own
 * inspector server does. The UI itself is loaded from the network; the feed stays on loopback.
 */
export function inspectorBridgeHtml(nonce: string, inspectorUiUrl: string): string {
  const uiOrigin = new URL(inspectorUiUrl).origin;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mcp-upstream-proxy: Stately inspector</title>
<style nonce="${nonce}">*{margin:0;padding:0}html,body{height:100%}iframe{width:100%;height:100%;border:none}</style>
</head>
<body>
<iframe id="inspector" src="${inspectorUiUrl}" title="Stately inspector (loaded from ${uiOrigin}; needs network)"></iframe>
<script nonce="${nonce}">(function () {
  var frame = document.getElementById('inspector');
  var buffer = [];
  var connected = false;
  window.addEventListener('message', function (e) {
    if (e.origin !== ${JSON.stringify(uiOrigin)} || !e.data || e.data.type !== '@statelyai.connected') return;
    connected = true;
    buffer.forEach(function (event) { frame.contentWindow.postMessage(event, ${JSON.stringify(uiOrigin)}); });
    buffer.length = 0;
  });
  new EventSource('inspector/events').onmessage = function (message) {
    var event = JSON.parse(message.data);
    if (connected) frame.contentWindow.postMessage(event, ${JSON.stringify(uiOrigin)});
    else buffer.push(event);
  };
})();</script>
</body>
</html>
`;
}
