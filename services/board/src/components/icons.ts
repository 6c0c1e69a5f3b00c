import type { Posture, StatusLevel } from '../api/types';
import { detailIcon, drawSiteIcon, incidentIcon, siteIconName, travellerIcon } from '../map/icons';

// The map's icons as data: URLs for <img> in lists and the legend, so the
// list shows exactly the marker the map does. Drawn once each.
const cache = new Map<string, string>();

function cached(name: string, draw: () => HTMLCanvasElement): string {
  let url = cache.get(name);
  if (!url) {
    url = draw().toDataURL('image/png');
    cache.set(name, url);
  }
  return url;
}

export function siteIconURL(level: StatusLevel, posture: Posture): string {
  return cached(siteIconName(level, posture), () => drawSiteIcon(level, posture));
}

export function markerIconURL(kind: 'traveller' | 'detail' | 'incident'): string {
  const icon = kind === 'traveller' ? travellerIcon : kind === 'detail' ? detailIcon : incidentIcon;
  return cached(icon.name, icon.draw);
}
