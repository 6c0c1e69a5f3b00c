// window.__meridianBoard: the read-only test hook the end-to-end tests and
// the benchmark read (the contract in the notes). Everything here
// is what the page really shows: renderedSite reads the map's own tiles.

export interface RenderedSite {
  level: string;
  posture: string;
  version: number;
}

export interface PaintedSite {
  code: string;
  version: number;
  at: number;
}

export interface BoardHook {
  ready: boolean;
  firstRenderAt: number;
  connection: 'connecting' | 'connected' | 'disconnected';
  siteCount: number;
  renderedSite(code: string): RenderedSite | null;
  /** The advisory level the map's country layer holds for an ISO alpha-2 code (0: none shaded). */
  renderedCountryLevel(code: string): number;
  /** Pixels where the sites' canvas differs from a full redraw of what it holds (0: the partial redraws were exact). */
  overlayPixelsOff(): number;
  painted: PaintedSite[];
  /** performance.now() when each part of the first render was done (signed-in, sites, escalations, countries, map, drawn): where a slow load went. */
  marks: Record<string, number>;
}

declare global {
  interface Window {
    __meridianBoard: BoardHook;
  }
}

/** The ring buffer's size. */
export const paintedCapacity = 20_000;

let renderedSiteReader: (code: string) => RenderedSite | null = () => null;
let renderedCountryReader: (code: string) => number = () => 0;
let overlayChecker: () => number = () => 0;

export const hook: BoardHook = {
  ready: false,
  firstRenderAt: 0,
  connection: 'disconnected',
  siteCount: 0,
  renderedSite: (code) => renderedSiteReader(code),
  renderedCountryLevel: (code) => renderedCountryReader(code),
  overlayPixelsOff: () => overlayChecker(),
  painted: [],
  marks: {},
};

/** Notes the first time a part of the first render was done. */
export function mark(name: string): void {
  hook.marks[name] ??= performance.now();
}

export function installHook(): void {
  Object.defineProperty(window, '__meridianBoard', { value: hook, writable: false, configurable: false, enumerable: false });
}

export function setRenderedSiteReader(reader: (code: string) => RenderedSite | null): void {
  renderedSiteReader = reader;
}

export function setRenderedCountryReader(reader: (code: string) => number): void {
  renderedCountryReader = reader;
}

export function setOverlayChecker(check: () => number): void {
  overlayChecker = check;
}

export function recordPainted(entries: PaintedSite[]): void {
  const painted = hook.painted;
  for (const entry of entries) painted.push(entry);
  if (painted.length > paintedCapacity) painted.splice(0, painted.length - paintedCapacity);
}

/** Back to the signed-out state (a new sign-in starts a new first render). */
export function resetHook(): void {
  hook.ready = false;
  hook.firstRenderAt = 0;
  hook.connection = 'disconnected';
  hook.siteCount = 0;
  hook.painted.length = 0;
  hook.marks = {};
  renderedSiteReader = () => null;
  renderedCountryReader = () => 0;
  overlayChecker = () => 0;
}
