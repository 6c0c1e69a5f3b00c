// Sites drawn on a 2D canvas laid over the map, not as a MapLibre layer.
//
// Why: a GeoJSON source re-tiles its data in MapLibre's worker on every
// updateData and then repaints the whole WebGL map. With thousands of
// sites and a hundred status changes a second that is several hundred
// milliseconds per change on an operations-room PC without a GPU (the bench
// measured 217 ms frame p95 and 1.5 s change → pixel p99 that way). Here
// the WebGL map repaints only when the camera moves or a country's
// advisory changes, and the overlay redraws in the same frame as the map
// when it does. A status change redraws only around the sites that
// changed: clipped to their icons' squares, everything under them is
// drawn again in order. Redrawing all 5,000 icons for every change took
// about 14 ms a frame in the bench's Chromium, most of a frame's budget.
import type { Map as MapLibreMap } from 'maplibre-gl';
import type { Posture, Site, SiteStatus, StatusLevel } from '../api/types';
import { statusLevels } from '../api/types';
import type { RenderedSite } from '../hook';
import { drawSiteIcon, iconSize } from './icons';

interface Marker {
  code: string;
  longitude: number;
  latitude: number;
  /** The status to draw next. */
  status: SiteStatus;
  /** What the last drawn frame showed: the test hook's truth. */
  drawn: RenderedSite | null;
  /** The icon for status at the current size (null: look it up at the next draw). */
  sprite: HTMLCanvasElement | null;
  /** Device-pixel centre from the last projection. */
  x: number;
  y: number;
  /** When it joined its level's bucket: the order it is drawn in within its level. */
  seq: number;
}

const levelOrder = Object.fromEntries(statusLevels.map((level, i) => [level, i])) as Record<StatusLevel, number>;

/** The full draw's order: by level (most severe last, on top), then by when each joined its level. */
function drawOrder(a: Marker, b: Marker): number {
  return levelOrder[a.status.level] - levelOrder[b.status.level] || a.seq - b.seq;
}

function drawnAfter(a: Marker, b: Marker): boolean {
  return drawOrder(a, b) > 0;
}

/** Icon scale by zoom, as the symbol layer had it: small on the world view. */
function zoomScale(zoom: number): number {
  if (zoom <= 0) return 0.7;
  if (zoom >= 6) return 1;
  return zoom <= 3 ? 0.7 + (0.15 * zoom) / 3 : 0.85 + (0.15 * (zoom - 3)) / 3;
}

/** On a wall (2560 CSS pixels and wider) markers are read from across the room. */
function wallScale(): number {
  return window.innerWidth >= 2560 ? 1.5 : 1;
}

export class SiteOverlay {
  readonly canvas: HTMLCanvasElement;
  private readonly context: CanvasRenderingContext2D;
  private readonly markers = new Map<string, Marker>();
  /** Draw order: one bucket per level, the most severe drawn last (on top). */
  private readonly byLevel = new Map<StatusLevel, Set<Marker>>(statusLevels.map((level) => [level, new Set<Marker>()]));
  /** Icons rendered once per (level, posture, device size). */
  private readonly sprites = new Map<string, HTMLCanvasElement>();
  private devicePixelRatio = 1;
  private iconPixels = 0;
  private projected = false;
  /** The map's size in CSS pixels, read again only after a resize (reading it forces a layout). */
  private cssSize: { width: number; height: number } | null = null;
  /** Markers whose status changed since the last draw. */
  private readonly dirty = new Set<Marker>();
  /** On-screen markers by grid cell (cellPixels square), for finding what lies under a changed icon. */
  private grid = new Map<number, Marker[]>();
  private cellPixels = 32;
  private gridColumns = 1;
  private nextSeq = 0;

  constructor(private readonly map: MapLibreMap) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'site-overlay';
    this.canvas.setAttribute('aria-hidden', 'true');
    const context = this.canvas.getContext('2d', { alpha: true });
    if (!context) throw new Error('no 2D canvas for the site overlay');
    this.context = context;
    // Beside MapLibre's canvas, under its controls; clicks go through to the map.
    map.getCanvasContainer().appendChild(this.canvas);
  }

  get size(): number {
    return this.markers.size;
  }

  dispose(): void {
    this.canvas.remove();
  }

  /** Replaces every marker (the first load, or a reload after a gap). */
  setAll(sites: Iterable<Site>): void {
    this.markers.clear();
    for (const bucket of this.byLevel.values()) bucket.clear();
    for (const site of sites) this.put(site, site.status);
    this.projected = false;
  }

  /** A site's new status, or a site first seen now. False if the site is unknown. */
  update(code: string, status: SiteStatus, site?: Site): boolean {
    const marker = this.markers.get(code);
    if (!marker) {
      if (!site) return false;
      this.put(site, status);
      this.projected = false;
      return true;
    }
    if (marker.status.level !== status.level) {
      this.byLevel.get(marker.status.level)?.delete(marker);
      this.byLevel.get(status.level)?.add(marker);
      marker.seq = this.nextSeq++;
    }
    marker.status = status;
    marker.sprite = null;
    this.dirty.add(marker);
    return true;
  }

  private put(site: Site, status: SiteStatus): void {
    const marker: Marker = {
      code: site.code,
      longitude: site.location.longitude,
      latitude: site.location.latitude,
      status,
      drawn: null,
      sprite: null,
      x: 0,
      y: 0,
      seq: this.nextSeq++,
    };
    this.markers.set(site.code, marker);
    this.byLevel.get(status.level)?.add(marker);
  }

  /** The camera moved: positions are recomputed at the next draw. */
  invalidateProjection(): void {
    this.projected = false;
  }

  /** The map resized: its size and the positions are read again at the next draw. */
  invalidateSize(): void {
    this.cssSize = null;
    this.projected = false;
  }

  /**
   * Brings the canvas up to date now: everything after the camera moved,
   * the map resized or the icons changed size; otherwise only around the
   * sites whose status changed. Call from a frame callback (the map's
   * render, or rAF).
   */
  draw(): void {
    this.fitCanvas();
    const ratio = this.devicePixelRatio;
    let everything = false;
    if (!this.projected) {
      for (const marker of this.markers.values()) {
        const point = this.map.project([marker.longitude, marker.latitude]);
        marker.x = Math.round(point.x * ratio);
        marker.y = Math.round(point.y * ratio);
      }
      this.projected = true;
      everything = true;
    }
    const pixels = Math.max(8, Math.round(iconSize * zoomScale(this.map.getZoom()) * wallScale() * ratio));
    if (pixels !== this.iconPixels) {
      this.iconPixels = pixels;
      this.sprites.clear();
      for (const marker of this.markers.values()) marker.sprite = null;
      everything = true;
    }
    if (everything) {
      this.buildGrid();
      this.drawEverything();
    } else if (this.dirty.size > 0) {
      this.drawAround(this.dirty);
    }
    for (const marker of this.dirty) this.noteDrawn(marker);
    this.dirty.clear();
  }

  private noteDrawn(marker: Marker): void {
    const { status, drawn } = marker;
    if (!drawn || drawn.version !== status.version) {
      marker.drawn = { level: status.level, posture: status.posture, version: status.version };
    }
  }

  private onScreen(marker: Marker): boolean {
    const half = this.iconPixels >> 1;
    const { width, height } = this.canvas;
    return marker.x + half >= 0 && marker.y + half >= 0 && marker.x - half <= width && marker.y - half <= height;
  }

  private paint(marker: Marker, context = this.context): void {
    const half = this.iconPixels >> 1;
    marker.sprite ??= this.sprite(marker.status.level, marker.status.posture);
    context.drawImage(marker.sprite, marker.x - half, marker.y - half);
  }

  private drawEverything(context = this.context, note = true): void {
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, this.canvas.width, this.canvas.height);
    for (const level of statusLevels) {
      for (const marker of this.byLevel.get(level) ?? []) {
        if (note) this.noteDrawn(marker);
        if (this.onScreen(marker)) this.paint(marker, context);
      }
    }
  }

  /**
   * For the tests: how many pixels of the canvas differ from a full redraw
   * of the same state (0 when redrawing only around changes is right).
   * Reading the canvas back makes Chromium keep it in memory from then on;
   * nothing but a test calls this.
   */
  pixelsOffFullRedraw(): number {
    const { width, height } = this.canvas;
    if (width === 0 || height === 0) return 0;
    const reference = document.createElement('canvas');
    reference.width = width;
    reference.height = height;
    const context = reference.getContext('2d', { willReadFrequently: true });
    if (!context) throw new Error('no 2D canvas');
    this.drawEverything(context, false);
    const want = context.getImageData(0, 0, width, height).data;
    const have = this.context.getImageData(0, 0, width, height).data;
    let off = 0;
    for (let i = 0; i < want.length; i += 4) {
      if (want[i] !== have[i] || want[i + 1] !== have[i + 1] || want[i + 2] !== have[i + 2] || want[i + 3] !== have[i + 3]) off++;
    }
    return off;
  }

  /**
   * Redraws the squares of the changed icons: clipped to them, cleared, and
   * every icon that overlaps one drawn again in the full draw's order
   * (level, then when it joined the level), so the pixels are what a full
   * redraw would give.
   */
  private drawAround(changed: Iterable<Marker>): void {
    // The icon's own square (drawn from x - half, iconPixels wide) with a
    // pixel of margin, on whole pixels: a clip edge inside a pixel would
    // blend old and new there.
    const half = this.iconPixels >> 1;
    const size = this.iconPixels + 2;
    const reach = this.iconPixels + 2;
    const squares: [number, number][] = [];
    const under = new Set<Marker>();
    for (const marker of changed) {
      if (!this.onScreen(marker)) continue;
      squares.push([marker.x - half - 1, marker.y - half - 1]);
      this.forEachNear(marker.x, marker.y, reach, (other) => under.add(other));
    }
    if (squares.length === 0) return;
    const context = this.context;
    context.save();
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.beginPath();
    for (const [x, y] of squares) context.rect(x, y, size, size);
    context.clip();
    for (const [x, y] of squares) context.clearRect(x, y, size, size);
    const ordered = [...under].sort(drawOrder);
    for (const marker of ordered) this.paint(marker);
    context.restore();
  }

  private buildGrid(): void {
    this.cellPixels = Math.max(16, this.iconPixels);
    this.gridColumns = Math.ceil(this.canvas.width / this.cellPixels) + 3;
    this.grid = new Map();
    for (const marker of this.markers.values()) {
      if (!this.onScreen(marker)) continue;
      const key = this.cellKey(marker.x, marker.y);
      const cell = this.grid.get(key);
      if (cell) cell.push(marker);
      else this.grid.set(key, [marker]);
    }
  }

  /** Cells are offset by one so that icons hanging over the top or left edge get a cell too. */
  private cellKey(x: number, y: number): number {
    return (Math.floor(y / this.cellPixels) + 1) * this.gridColumns + Math.floor(x / this.cellPixels) + 1;
  }

  /** Every on-screen marker whose centre is within reach (a square) of (x, y). */
  private forEachNear(x: number, y: number, reach: number, visit: (marker: Marker) => void): void {
    const cell = this.cellPixels;
    for (let cy = Math.floor((y - reach) / cell); cy <= Math.floor((y + reach) / cell); cy++) {
      for (let cx = Math.floor((x - reach) / cell); cx <= Math.floor((x + reach) / cell); cx++) {
        for (const marker of this.grid.get((cy + 1) * this.gridColumns + cx + 1) ?? []) {
          if (Math.abs(marker.x - x) <= reach && Math.abs(marker.y - y) <= reach) visit(marker);
        }
      }
    }
  }

  /** What the last drawn frame showed for a site. */
  rendered(code: string): RenderedSite | null {
    return this.markers.get(code)?.drawn ?? null;
  }

  /** The site whose icon is under a point in CSS pixels (the topmost one), if any. */
  hit(cssX: number, cssY: number): string | null {
    if (!this.projected) return null;
    const ratio = this.devicePixelRatio;
    // A little larger than the icon: small markers are hard to hit.
    const reach = Math.max(this.iconPixels / 2, 8 * ratio);
    let top: Marker | null = null;
    this.forEachNear(cssX * ratio, cssY * ratio, reach, (marker) => {
      if (!top || drawnAfter(marker, top)) top = marker;
    });
    return (top as Marker | null)?.code ?? null;
  }

  private fitCanvas(): void {
    if (!this.cssSize) {
      const mapCanvas = this.map.getCanvas();
      this.cssSize = { width: mapCanvas.clientWidth, height: mapCanvas.clientHeight };
    }
    const { width: cssWidth, height: cssHeight } = this.cssSize;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(cssWidth * ratio);
    const height = Math.round(cssHeight * ratio);
    if (this.canvas.width !== width || this.canvas.height !== height || ratio !== this.devicePixelRatio) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.canvas.style.width = `${cssWidth}px`;
      this.canvas.style.height = `${cssHeight}px`;
      this.devicePixelRatio = ratio;
      this.projected = false;
    }
  }

  private sprite(level: StatusLevel, posture: Posture): HTMLCanvasElement {
    const key = `${level}/${posture}`;
    let sprite = this.sprites.get(key);
    if (!sprite) {
      sprite = drawSiteIcon(level, posture, this.iconPixels);
      this.sprites.set(key, sprite);
    }
    return sprite;
  }
}
