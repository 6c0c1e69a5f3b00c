// Sites drawn on a 2D canvas laid over the map, not as a MapLibre layer.
//
// Why: a GeoJSON source re-tiles its data in MapLibre's worker on every
// updateData and then repaints the whole WebGL map. With thousands of
// sites and a hundred status changes a second that is several hundred
// milliseconds per change on an operations-room PC without a GPU (the bench
// measured 217 ms frame p95 and 1.5 s change → pixel p99 that way). Here a
// change costs one 2D redraw of pre-rendered icons (a few milliseconds for
// 5,000 sites), the WebGL map repaints only when the camera moves or a
// country's advisory changes, and the overlay redraws in the same frame as
// the map when it does.
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
  /** Device-pixel centre from the last projection. */
  x: number;
  y: number;
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
    }
    marker.status = status;
    return true;
  }

  private put(site: Site, status: SiteStatus): void {
    const marker: Marker = {
      code: site.code,
      longitude: site.location.longitude,
      latitude: site.location.latitude,
      status,
      drawn: null,
      x: 0,
      y: 0,
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

  /** Draws every marker now. Call from a frame callback (the map's render, or rAF). */
  draw(): void {
    this.fitCanvas();
    const ratio = this.devicePixelRatio;
    if (!this.projected) {
      for (const marker of this.markers.values()) {
        const point = this.map.project([marker.longitude, marker.latitude]);
        marker.x = Math.round(point.x * ratio);
        marker.y = Math.round(point.y * ratio);
      }
      this.projected = true;
    }
    const pixels = Math.max(8, Math.round(iconSize * zoomScale(this.map.getZoom()) * wallScale() * ratio));
    if (pixels !== this.iconPixels) {
      this.iconPixels = pixels;
      this.sprites.clear();
    }
    const half = pixels >> 1;
    const context = this.context;
    const { width, height } = this.canvas;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, width, height);
    for (const level of statusLevels) {
      for (const marker of this.byLevel.get(level) ?? []) {
        const { status } = marker;
        const drawn = marker.drawn;
        if (!drawn || drawn.version !== status.version) {
          marker.drawn = { level: status.level, posture: status.posture, version: status.version };
        }
        const x = marker.x - half;
        const y = marker.y - half;
        if (x > width || y > height || x + pixels < 0 || y + pixels < 0) continue;
        context.drawImage(this.sprite(status.level, status.posture), x, y);
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
    const x = cssX * ratio;
    const y = cssY * ratio;
    // A little larger than the icon: small markers are hard to hit.
    const reach = Math.max(this.iconPixels / 2, 8 * ratio);
    const levels = [...statusLevels].reverse();
    for (const level of levels) {
      const bucket = [...(this.byLevel.get(level) ?? [])];
      for (let i = bucket.length - 1; i >= 0; i--) {
        const marker = bucket[i];
        if (marker && Math.abs(marker.x - x) <= reach && Math.abs(marker.y - y) <= reach) return marker.code;
      }
    }
    return null;
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
