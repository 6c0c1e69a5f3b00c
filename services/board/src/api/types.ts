// The shapes the board selects from the API (schema/graphql/*.graphql).

export const statusLevels = ['NORMAL', 'ELEVATED', 'HIGH', 'CRITICAL'] as const;
export type StatusLevel = (typeof statusLevels)[number];

export const postures = ['OPEN', 'RESTRICTED', 'LOCKDOWN', 'EVACUATED', 'CLOSED'] as const;
export type Posture = (typeof postures)[number];

export const severities = ['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const;
export type Severity = (typeof severities)[number];

export type EscalationStatus = 'OPEN' | 'ACKNOWLEDGED' | 'RESOLVED';

export const dispositions = ['NO_IMPACT', 'IMPACT', 'DUPLICATE', 'FALSE_ALARM'] as const;
export type Disposition = (typeof dispositions)[number];

export interface GeoPoint {
  latitude: number;
  longitude: number;
}

export interface Viewer {
  subject: string;
  name: string;
  roles: string[];
  regions: string[];
}

export interface Region {
  code: string;
  name: string;
}

export interface SiteStatus {
  level: StatusLevel;
  posture: Posture;
  note: string;
  version: number;
  updatedAt: string;
  updatedBy: string;
}

export interface Site {
  id: string;
  code: string;
  name: string;
  countryCode: string;
  city: string;
  criticality: string;
  location: GeoPoint;
  region: { code: string };
  status: SiteStatus;
}

export interface TimelineEntry {
  at: string;
  kind: string;
  actor: string;
  note: string;
  tier: number | null;
  recipient: string | null;
  channel: string | null;
}

export interface Escalation {
  id: string;
  status: EscalationStatus;
  severity: Severity;
  tier: number;
  startedAt: string;
  acknowledgedBy: string | null;
  disposition: Disposition | null;
  region: Region;
  site: { id: string; code: string; name: string } | null;
  incident: { id: string; title: string; kind: string; location: GeoPoint | null } | null;
  timeline: TimelineEntry[];
}

export interface EscalationActions {
  acknowledge: boolean;
  resolve: boolean;
  escalateNow: boolean;
  handOff: boolean;
  addNote: boolean;
}

export interface EscalationDetail extends Escalation {
  viewerCan: EscalationActions;
  policy: { name: string; version: number };
}

export interface CountryLevel {
  country: { code: string; name: string };
  level: number;
  rule: string;
}

export interface AdvisoryChange {
  country: { code: string; name: string };
  level: number;
  previousLevel: number | null;
  rule: string;
  cause: string;
  at: string;
  cursor: string;
}

export interface ImpactRadius {
  kind: string;
  assetType: 'SITE' | 'TRAVELLER' | 'DETAIL';
  radiusKm: number;
}

export interface Place {
  city: string;
  countryCode: string;
  location: GeoPoint | null;
}

export interface TripSegment {
  id: string;
  kind: string;
  startsAt: string;
  endsAt: string;
  place: Place;
  risk: { level: number };
}

export interface Trip {
  id: string;
  status: string;
  traveller: { subject: string; name: string };
  risk: { level: number; reasons: { text: string }[] };
  segments: TripSegment[];
}

export interface Presence {
  traveller: { subject: string; name: string };
  trip: { id: string; status: string; risk: { level: number } };
  segment: { id: string; kind: string; place: Place; startsAt: string; endsAt: string };
  distanceKm: number | null;
}

export interface Detail {
  id: string;
  status: string;
  region: { code: string };
  protectee: { name: string };
  lastPosition: { latitude: number; longitude: number; at: string } | null;
  maskedFields: string[];
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
