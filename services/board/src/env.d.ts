/// <reference types="vite/client" />

// MapLibre's CSP build: the same API as the package's main bundle, but its
// worker is a separate file (set with setWorkerUrl) instead of a blob: URL,
// so the page's CSP can say worker-src 'self'.
declare module 'maplibre-gl/dist/maplibre-gl-csp.js' {
  const maplibregl: typeof import('maplibre-gl');
  export default maplibregl;
}

declare module 'maplibre-gl/dist/maplibre-gl-csp-worker.js?url' {
  const url: string;
  export default url;
}
