import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// The gateway embeds and serves what this writes (services/gateway/web); the
// dev server proxies the API to a running gateway so `npm run dev` works
// against `make run` (override with MERIDIAN_GATEWAY_URL).
const gateway = process.env.MERIDIAN_GATEWAY_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  // Preact's automatic JSX runtime for the board; the GraphiQL entry is
  // React and is written without JSX, so one setting fits both.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: resolve(import.meta.dirname, '../gateway/web/static/dist'),
    emptyOutDir: true,
    target: 'es2022',
    // Never turn an asset into a data: URL: the MapLibre worker must stay a
    // same-origin file (CSP worker-src 'self'), and one rule is easier to
    // reason about than a size threshold.
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    rolldownOptions: {
      input: {
        board: resolve(import.meta.dirname, 'index.html'),
        graphiql: resolve(import.meta.dirname, 'graphiql.html'),
      },
      onwarn(warning, warn) {
        // GraphiQL's Radix components start with "use client", a React
        // Server Components marker with no meaning in a browser bundle.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  server: {
    proxy: {
      '/graphql': { target: gateway, ws: true, changeOrigin: true },
      '/board/personas': { target: gateway, changeOrigin: true },
    },
  },
});
