import type { Posture, Site, StatusLevel } from '../api/types';

export const levelRank: Record<StatusLevel, number> = { CRITICAL: 0, HIGH: 1, ELEVATED: 2, NORMAL: 3 };
export const postureRank: Record<Posture, number> = { EVACUATED: 0, LOCKDOWN: 1, CLOSED: 2, RESTRICTED: 3, OPEN: 4 };

/** Most severe first: level, then posture, then the most recent change. */
export function compareSites(a: Site, b: Site): number {
  return (
    levelRank[a.status.level] - levelRank[b.status.level] ||
    postureRank[a.status.posture] - postureRank[b.status.posture] ||
    b.status.updatedAt.localeCompare(a.status.updatedAt) ||
    a.code.localeCompare(b.code)
  );
}
