import { getSession } from '@shallot/session'
import { getClient, getOriginalUrl, getPath, type Handler, HttpError } from '@shallot/stack'

/** How to call the API, as shown on the page: on the host and port the browser used. */
const curl = (host: string): string => `curl -H 'X-API-Key: test-key-123' http://${host}/api/test`

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/**
 * The innermost handler: the home page at `/`, a 404 for any other path that no layer
 * answered. It echoes the request's method, path, query string and the request target as
 * the client sent it, all HTML-escaped: try `/?name=<b>you</b>`.
 */
export const home: Handler = function home(req, res) {
  const method = req.method ?? 'GET'
  const path = getPath(req)
  if (path !== '/') {
    // Thrown, not written: the stack's boundary renders it (text or JSON, never HTML).
    throw new HttpError(404, `Cannot ${method} ${path}`)
  }
  // The visit counter: the session is written (and its cookie sent) before the response.
  const visit = getSession<{ visits: number }>(req)
  const visits = (visit.get('visits') ?? 0) + 1
  visit.set('visits', visits)
  const query = [...new URL(req.url ?? '/', 'http://localhost').searchParams]
  const queryRows =
    query.length === 0
      ? '<tr><td colspan="2"><em>none</em>, try <a href="/?name=%3Cb%3Eyou%3C%2Fb%3E">/?name=&lt;b&gt;you&lt;/b&gt;</a></td></tr>'
      : query
          .map(
            ([k, v]) =>
              `<tr><th><code>${escapeHtml(k)}</code></th><td><code>${escapeHtml(v)}</code></td></tr>`
          )
          .join('\n')

  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shallot demo</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<h1>Shallot demo</h1>
<p class="visits">You have visited this page ${visits} times.</p>
<p>This page comes from a plain Node request listener wrapped in a
<code>stack(...)</code> of middleware layers (see <code>examples/demo/src/app.ts</code>).</p>

<h2>Your request</h2>
<table>
<tr><th>Method</th><td><code>${escapeHtml(method)}</code></td></tr>
<tr><th>Path</th><td><code>${escapeHtml(path)}</code></td></tr>
<tr><th>Sent as</th><td><code>${escapeHtml(getOriginalUrl(req))}</code></td></tr>
</table>
<p>The path is what every layer decides on: the stack decodes and normalises the request
target once (<code>/a/../?x=1</code> becomes <code>/</code>) and refuses what it cannot
normalise safely with a 400.</p>
<h3>Query</h3>
<table>
${queryRows}
</table>

<h2>Routes</h2>
<ul>
<li><a href="/"><code>/</code></a>: this page</li>
<li><a href="/api/test"><code>/api/test</code></a>: JSON, from a handler mounted at <code>/api</code>; needs an API key, so following the link gets the 401</li>
<li><a href="/api/slow?ms=2000"><code>/api/slow?ms=2000</code></a>: JSON after a delay (0 to 5000 ms), with the key too; stop the server meanwhile and the answer still arrives</li>
<li><a href="/static/hello.txt"><code>/static/hello.txt</code></a>, <a href="/static/style.css"><code>/static/style.css</code></a>: files from <code>public/</code> (<code>@shallot/static</code>: reload and the browser revalidates with a 304)</li>
<li><a href="/nope"><code>/nope</code></a>: a 404, rendered by the stack's error boundary</li>
<li><a href="/_monitor"><code>/_monitor</code></a>: the live dashboard (request rate, errors, latency)</li>
<li><a href="/metrics"><code>/metrics</code></a> (Prometheus), <a href="/stats"><code>/stats</code></a> (JSON), <a href="/healthz"><code>/healthz</code></a>, <a href="/readyz"><code>/readyz</code></a>: metrics and probes</li>
</ul>

<h2>Calling the API</h2>
<p><code>/api</code> and everything below it need a key in the <code>X-API-Key</code> header
(<code>@shallot/auth</code>). The demo accepts <code>test-key-123</code>, unless the server was
started with <code>DEMO_API_KEYS</code> naming others:</p>
<pre><code>${escapeHtml(curl(getClient(req).host ?? 'localhost:8080'))}</code></pre>
<p>Without a key, or with a wrong one, the answer is a <code>401</code> with a
<code>WWW-Authenticate</code> header (JSON with <code>-H 'Accept: application/json'</code>).</p>

<h2>CORS</h2>
<p>Pages on <code>http://localhost:3000</code> may call this server from a browser, with
credentials (<code>@shallot/cors</code>): their preflights are answered without a key, and
the answers, 401s included, carry <code>Access-Control-Allow-Origin: http://localhost:3000</code>
and <code>Access-Control-Allow-Credentials: true</code>. Other origins get no CORS headers.</p>

<h2>Timing</h2>
<p>Every response, errors included, carries <code>X-Response-Time</code> and
<code>Server-Timing</code> (<code>@shallot/timing</code>): the total, one
<code>layer.&lt;name&gt;</code> entry per layer of the stack, and the marks the handlers add
(<code>work</code> on <code>/api/test</code>). Your browser's devtools show them in the
Network panel, under Timing.</p>

<h2>Sessions</h2>
<p>The visit counter above lives in a session (<code>@shallot/session</code>): a cookie
<code>sid</code> (HttpOnly, SameSite=Lax) carries its signed id, the data stays on the server,
in memory, or in Redis when the server was started with <code>REDIS_URL</code>. Only this
page writes to it, so other paths set no cookie.</p>

<h2>Logs and metrics</h2>
<p>Every exchange is logged once it is over (<code>@shallot/logging</code>; the
<code>dev</code> format on a terminal, <code>combined</code> otherwise), with the
<code>X-Request-Id</code> each response carries. <code>@shallot/monitoring</code> counts and
times every request (not its own endpoints) for <a href="/metrics"><code>/metrics</code></a>,
<a href="/stats"><code>/stats</code></a> and the dashboard at
<a href="/_monitor"><code>/_monitor</code></a>.</p>
</body>
</html>
`
  res.statusCode = 200
  res.setHeader('Content-Type', 'text/html; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(html))
  // No scripts on this page: say so, so an escaping mistake could not run one either.
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'self'")
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.end(html)
}
