/** A timestamp as the operations floor reads it: UTC, to the second. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** A clientMutationId: retries of one submission change nothing twice. */
export function newMutationId(): string {
  // crypto.randomUUID exists only in secure contexts; an operations floor
  // may well serve the board over plain HTTP on a LAN address.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
