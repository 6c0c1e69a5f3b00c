import type { Escalation, Severity } from '../api/types';

const severityRank: Record<Severity, number> = { SEV1: 0, SEV2: 1, SEV3: 2, SEV4: 3 };

/** Most severe first, then newest first. */
export function compareEscalations(a: Escalation, b: Escalation): number {
  const bySeverity = severityRank[a.severity] - severityRank[b.severity];
  if (bySeverity !== 0) return bySeverity;
  return Date.parse(b.startedAt) - Date.parse(a.startedAt);
}

/**
 * Who the escalation's current page went to. A PAGED step's note lists the
 * people ("tier 1 (Regional), round 1: paging rm-emea-emil by WEBHOOK, EMAIL;
 * gl-gina by WEBHOOK"); DELIVERED steps name each recipient. Both are read,
 * from the latest PAGED step on, so a page whose deliveries are still in
 * flight already shows who it is for.
 */
export function whoIsPaged(escalation: Escalation): string[] {
  const timeline = escalation.timeline;
  let lastPaged = -1;
  for (let i = timeline.length - 1; i >= 0; i--) {
    if (timeline[i]?.kind === 'PAGED') {
      lastPaged = i;
      break;
    }
  }
  if (lastPaged < 0) return [];
  const people = new Set<string>();
  const paged = timeline[lastPaged];
  const note = paged?.note ?? '';
  const listed = note.match(/paging (.*?)(?:\. Not reachable:|$)/)?.[1];
  if (listed) {
    for (const part of listed.split(';')) {
      const subject = part.trim().split(' by ')[0]?.trim();
      if (subject) people.add(subject);
    }
  }
  // Escalations paged before channels existed: "tier 1 (…) paged by webhook: [a b]".
  const legacy = note.match(/paged by webhook: \[(.*)\]/)?.[1];
  for (const subject of legacy?.split(/\s+/) ?? []) if (subject) people.add(subject);
  for (let i = lastPaged + 1; i < timeline.length; i++) {
    const entry = timeline[i];
    if (entry?.kind === 'DELIVERED' && entry.recipient && (entry.tier === null || entry.tier === paged?.tier)) {
      people.add(entry.recipient);
    }
  }
  return [...people];
}

export function formatAge(fromISO: string, now: number): string {
  const seconds = Math.max(0, Math.floor((now - Date.parse(fromISO)) / 1000));
  // Ages follow a clock that ticks every 10 s: seconds would read as exact
  // and be up to 10 s stale.
  if (seconds < 60) return '<1m';
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}
