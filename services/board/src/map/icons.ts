// Marker icons drawn at runtime on a canvas: an offline map has no sprite
// server, and no glyph server either, so a posture letter cannot be a map
// text label — it is painted into the icon. Each level has its own shape AND
// colour, and each posture its letter, so nothing depends on colour alone.
import type { Posture, StatusLevel } from '../api/types';

export const levelColour: Record<StatusLevel, string> = {
  NORMAL: '#2fb36a',
  ELEVATED: '#f2c230',
  HIGH: '#ff8a1f',
  CRITICAL: '#ff3b3b',
};

export const levelShape: Record<StatusLevel, string> = {
  NORMAL: 'circle',
  ELEVATED: 'square',
  HIGH: 'triangle',
  CRITICAL: 'octagon',
};

export const postureLetter: Record<Posture, string> = {
  OPEN: 'O',
  RESTRICTED: 'R',
  LOCKDOWN: 'L',
  EVACUATED: 'E',
  CLOSED: 'C',
};

/** Advisory levels 1-4: fills for the country layer and the legend. */
export const advisoryColour: Record<number, string> = {
  1: '#1d3b2c',
  2: '#4a4a1c',
  3: '#6b3a14',
  4: '#6e1a1f',
};
export const advisoryNeutral = '#1b2430';

/** Icon edge in CSS pixels; drawn at twice that for sharp edges on any screen. */
export const iconSize = 26;
const pixelRatio = 2;

export function siteIconName(level: StatusLevel, posture: Posture): string {
  return `site-${level}-${posture}`;
}

function canvas(size: number, ratio: number, readBack: boolean): [HTMLCanvasElement, CanvasRenderingContext2D] {
  const element = document.createElement('canvas');
  element.width = Math.round(size * ratio);
  element.height = Math.round(size * ratio);
  // An icon read back once (getImageData, toDataURL) is drawn on a CPU
  // canvas, avoiding a GPU read-back stall that Chrome reports as a console
  // warning; one only ever drawn onto another canvas (the sites' overlay)
  // is not.
  const context = element.getContext('2d', { willReadFrequently: readBack });
  if (!context) throw new Error('no 2D canvas');
  context.scale(ratio, ratio);
  return [element, context];
}

function shapePath(context: CanvasRenderingContext2D, shape: string, size: number): void {
  const c = size / 2;
  const r = size / 2 - 2.5;
  context.beginPath();
  switch (shape) {
    case 'circle':
      context.arc(c, c, r * 0.92, 0, Math.PI * 2);
      break;
    case 'square':
      context.rect(c - r * 0.82, c - r * 0.82, r * 1.64, r * 1.64);
      break;
    case 'triangle':
      context.moveTo(c, c - r);
      context.lineTo(c + r, c + r * 0.8);
      context.lineTo(c - r, c + r * 0.8);
      break;
    case 'octagon':
      for (let i = 0; i < 8; i++) {
        const angle = Math.PI / 8 + (i * Math.PI) / 4;
        const x = c + r * Math.cos(angle);
        const y = c + r * Math.sin(angle);
        if (i === 0) context.moveTo(x, y);
        else context.lineTo(x, y);
      }
      break;
    case 'pin':
      context.arc(c, c - r * 0.2, r * 0.75, Math.PI * 0.8, Math.PI * 2.2);
      context.lineTo(c, c + r);
      break;
    case 'shield':
      context.moveTo(c - r * 0.85, c - r * 0.85);
      context.lineTo(c + r * 0.85, c - r * 0.85);
      context.lineTo(c + r * 0.85, c);
      context.quadraticCurveTo(c + r * 0.7, c + r * 0.7, c, c + r);
      context.quadraticCurveTo(c - r * 0.7, c + r * 0.7, c - r * 0.85, c);
      break;
    case 'star':
      for (let i = 0; i < 10; i++) {
        const radius = i % 2 === 0 ? r : r * 0.5;
        const angle = -Math.PI / 2 + (i * Math.PI) / 5;
        const x = c + radius * Math.cos(angle);
        const y = c + radius * Math.sin(angle);
        if (i === 0) context.moveTo(x, y);
        else context.lineTo(x, y);
      }
      break;
    default:
      throw new Error(`unknown shape ${shape}`);
  }
  context.closePath();
}

/**
 * One marker: a dark outline for contrast on any fill, the shape, the
 * letter; `size` CSS pixels drawn at `ratio` device pixels each.
 */
export function drawMarker(
  shape: string,
  fill: string,
  letter: string,
  textColour: string,
  size = iconSize,
  ratio = pixelRatio,
  readBack = true,
): HTMLCanvasElement {
  const [element, context] = canvas(size, ratio, readBack);
  shapePath(context, shape, size);
  context.lineJoin = 'round';
  context.lineWidth = 3;
  context.strokeStyle = '#05080c';
  context.stroke();
  context.fillStyle = fill;
  context.fill();
  context.lineWidth = 1;
  context.strokeStyle = '#ffffff';
  context.stroke();
  if (letter) {
    context.fillStyle = textColour;
    context.font = `700 ${Math.round(size * 0.46)}px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif`;
    context.textAlign = 'center';
    context.textBaseline = 'middle';
    const lift = shape === 'triangle' ? size * 0.1 : shape === 'pin' ? -size * 0.06 : 0;
    context.fillText(letter, size / 2, size / 2 + lift + 1);
  }
  return element;
}

/** A site's icon; `devicePixels` wide when given (the map overlay draws it 1:1), else at twice iconSize. */
export function drawSiteIcon(level: StatusLevel, posture: Posture, devicePixels?: number): HTMLCanvasElement {
  const textColour = level === 'CRITICAL' ? '#ffffff' : '#0b0f14';
  const ratio = devicePixels ? devicePixels / iconSize : pixelRatio;
  return drawMarker(levelShape[level], levelColour[level], postureLetter[posture], textColour, iconSize, ratio, devicePixels === undefined);
}

export const travellerIcon = { name: 'traveller', draw: () => drawMarker('pin', '#3cc7f5', 'T', '#0b0f14') };
export const detailIcon = { name: 'detail', draw: () => drawMarker('shield', '#c08cff', 'P', '#0b0f14') };
export const incidentIcon = { name: 'incident', draw: () => drawMarker('star', '#ff4fa3', '', '#ffffff') };

export interface NamedImage {
  name: string;
  image: ImageData;
}

function imageDataOf(element: HTMLCanvasElement): ImageData {
  const context = element.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('no 2D canvas');
  return context.getImageData(0, 0, element.width, element.height);
}

/** The icons of MapLibre's own symbol layers, as ImageData for map.addImage (pixelRatio 2); sites have their overlay. */
export function allMapImages(): NamedImage[] {
  const images: NamedImage[] = [];
  for (const icon of [travellerIcon, detailIcon, incidentIcon]) {
    images.push({ name: icon.name, image: imageDataOf(icon.draw()) });
  }
  return images;
}

export const mapImagePixelRatio = pixelRatio;
