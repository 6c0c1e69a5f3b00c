// Geometry the board computes itself: geodesic circles (an impact radius or
// a drawn search radius) and the countries layer from Natural Earth data.
import type { Feature, FeatureCollection, MultiPolygon, Polygon } from 'geojson';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import countriesTopology from 'world-atlas/countries-110m.json';
import isoCodes from 'i18n-iso-countries/codes.json';

const earthRadiusKm = 6371.0088;

/**
 * A circle of radiusKm around a point, as the polygon of points at that
 * great-circle distance (so a 500 km radius in Norway is not drawn smaller
 * than one at the equator, as a Mercator circle would be). Longitudes are
 * kept continuous (they may pass ±180) so a circle across the antimeridian
 * stays one ring.
 */
export function geodesicCircle(latitude: number, longitude: number, radiusKm: number, steps = 96): Polygon {
  const φ1 = (latitude * Math.PI) / 180;
  const λ1 = (longitude * Math.PI) / 180;
  const δ = radiusKm / earthRadiusKm;
  const ring: [number, number][] = [];
  let previousLongitude: number | undefined;
  for (let i = 0; i <= steps; i++) {
    const θ = (i / steps) * 2 * Math.PI;
    const φ2 = Math.asin(Math.sin(φ1) * Math.cos(δ) + Math.cos(φ1) * Math.sin(δ) * Math.cos(θ));
    const λ2 = λ1 + Math.atan2(Math.sin(θ) * Math.sin(δ) * Math.cos(φ1), Math.cos(δ) - Math.sin(φ1) * Math.sin(φ2));
    let lon = (λ2 * 180) / Math.PI;
    if (previousLongitude !== undefined) {
      while (lon - previousLongitude > 180) lon -= 360;
      while (lon - previousLongitude < -180) lon += 360;
    }
    previousLongitude = lon;
    ring.push([lon, Math.max(-85, Math.min(85, (φ2 * 180) / Math.PI))]);
  }
  return { type: 'Polygon', coordinates: [ring] };
}

/** Great-circle distance in km. */
export function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const toRad = Math.PI / 180;
  const dφ = (lat2 - lat1) * toRad;
  const dλ = (lon2 - lon1) * toRad;
  const a = Math.sin(dφ / 2) ** 2 + Math.cos(lat1 * toRad) * Math.cos(lat2 * toRad) * Math.sin(dλ / 2) ** 2;
  return 2 * earthRadiusKm * Math.asin(Math.min(1, Math.sqrt(a)));
}

export interface CountryProperties {
  code: string;
  name: string;
}

// world-atlas names countries by ISO 3166-1 numeric code; advisories use
// alpha-2. Three features have no numeric code in Natural Earth: advisories
// cover them under the country travel advice treats them as part of.
const alpha2ByNumeric = new Map((isoCodes as string[][]).map((row) => [row[2] ?? '', row[0] ?? '']));
const alpha2ByName: Record<string, string> = { Kosovo: 'XK', 'N. Cyprus': 'CY', Somaliland: 'SO' };
const antarctica = '010';

/**
 * Natural Earth's 110m rings cross the antimeridian by jumping from 180 to
 * -180 (Russia's Chukotka, Fiji): drawn as is, such a ring is a band across
 * the whole map. Keeping each ring's longitudes continuous (past 180 where
 * needed) draws it where it is.
 */
function continuousRing(ring: number[][]): number[][] {
  let previous: number | undefined;
  return ring.map(([lon = 0, lat = 0]) => {
    let longitude = lon;
    if (previous !== undefined) {
      while (longitude - previous > 180) longitude -= 360;
      while (longitude - previous < -180) longitude += 360;
    }
    previous = longitude;
    return [longitude, lat];
  });
}

function continuous(geometry: Polygon | MultiPolygon): Polygon | MultiPolygon {
  if (geometry.type === 'Polygon') return { type: 'Polygon', coordinates: geometry.coordinates.map(continuousRing) };
  return { type: 'MultiPolygon', coordinates: geometry.coordinates.map((polygon) => polygon.map(continuousRing)) };
}

export function countryFeatures(): FeatureCollection<Polygon | MultiPolygon, CountryProperties> {
  const topology = countriesTopology as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const collection = feature(topology, topology.objects.countries) as FeatureCollection<Polygon | MultiPolygon, { name: string }>;
  const features: Feature<Polygon | MultiPolygon, CountryProperties>[] = [];
  for (const country of collection.features) {
    const numeric = country.id === undefined ? '' : String(country.id);
    // Antarctica has no travel advisory and fills the bottom of a Mercator map.
    if (numeric === antarctica) continue;
    const name = country.properties.name;
    const code = alpha2ByNumeric.get(numeric) ?? alpha2ByName[name] ?? `unknown-${name}`;
    features.push({ type: 'Feature', geometry: continuous(country.geometry), properties: { code, name } });
  }
  return { type: 'FeatureCollection', features };
}
