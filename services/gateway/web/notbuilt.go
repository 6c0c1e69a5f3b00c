package web

// notBuiltPage is what / and GraphiQL answer when the gateway was compiled
// without the board's build. It is plain HTML with no script and no style,
// so the Content-Security-Policy every page carries has nothing to refuse;
// its empty data: icon keeps the browser from asking for /favicon.ico, a
// 404 in the console.
const notBuiltPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Meridian: the board is not built</title>
<link rel="icon" href="data:,">
</head>
<body>
<main>
<h1>The board is not built</h1>
<p>This Meridian gateway was compiled without the GSOC board and GraphiQL,
which are built from <code>services/board</code> with Node.js. The GraphQL API
itself works: send requests with POST, or over WebSocket, to
<code>/graphql</code>.</p>
<h2>To build the board</h2>
<p>It needs Node.js 20 or later and npm. From the repository's root:</p>
<ul>
<li><code>make board</code> builds it, or <code>make run</code>, which builds it and starts everything; or, by hand:</li>
<li><code>cd services/board &amp;&amp; npm ci &amp;&amp; npm run build</code></li>
</ul>
<p>Then rebuild and restart the gateway: it embeds the built files
(<code>services/gateway/web/static/dist</code>) when it is compiled, and serves
the board here and GraphiQL at <code>/graphql</code>.</p>
</main>
</body>
</html>
`
