// How the board's browser test and the bench launch Debian's chromium:
// headless, WebGL2 through SwiftShader (MapLibre needs WebGL, and these
// machines have no GPU), and nothing that reaches the internet.

export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-swiftshader',
  '--use-angle=swiftshader',
];
