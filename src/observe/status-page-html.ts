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
  function text(tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
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
  function field(dl, name, key, value) {
    dl.appendChild(text('dt', name));
    var dd = text('dd', value);
    dd.setAttribute('data-field', key);
    dl.appendChild(dd);
  }
  function draw(data) {
    var status = data.status;
    version.textContent = status.version;
    time.textContent = status.time;
    var cards = [];
    status.upstreams.forEach(function (upstream) {
      var card = document.createElement('section');
      card.className = 'upstream';
      card.setAttribute('data-upstream', upstream.name);
      var title = text('h2', upstream.name);
      title.appendChild(text('span', upstream.url, 'url'));
      card.appendChild(title);
      var state = text('span', upstream.state, stateClass(upstream.state));
      state.setAttribute('data-field', 'state');
      card.appendChild(state);
      var dl = document.createElement('dl');
      field(dl, 'transport', 'transport', upstream.transport === 'sse' ? 'SSE' : upstream.transport === 'http' ? 'Streamable HTTP' : '-');
      field(dl, 'tools exposed', 'tools', list(upstream.tools));
      field(dl, 'filtered out', 'filteredOut', list(upstream.filteredOut));
      field(dl, 'prompts, resources, templates', 'counts', upstream.prompts + ', ' + upstream.resources + ', ' + upstream.resourceTemplates);
      field(dl, 'last error', 'lastError', upstream.lastError ? upstream.lastError.code + ': ' + upstream.lastError.message : '-');
      field(dl, 'reconnect attempts', 'reconnectAttempts', String(upstream.reconnectAttempts));
      field(dl, 'waiting for sign-in', 'waitingForSignIn', upstream.waitingForSignIn ? 'yes' : 'no');
      field(dl, 'token expires', 'tokenExpiresAt', upstream.tokenExpiresAt || '-');
      field(dl, 'requests in flight', 'inFlight', String(upstream.inFlight));
      card.appendChild(dl);
      var chart = document.createElement('div');
      chart.className = 'chart';
      // Rendered by the server with every label escaped.
      chart.innerHTML = data.charts[upstream.name] || '';
      card.appendChild(chart);
      cards.push(card);
    });
    if (cards.length === 0) cards.push(text('p', 'No upstreams configured.', 'empty'));
    root.replaceChildren.apply(root, cards);
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
