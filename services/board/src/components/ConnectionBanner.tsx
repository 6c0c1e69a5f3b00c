import type { BoardState } from '../state/board';
import { useStore } from '../state/store';

/** Shown only while the live WebSocket is not connected. */
export function ConnectionBanner({ state }: { state: BoardState }) {
  const connection = useStore(state.live.connection);
  if (connection === 'connected') {
    return (
      <span class="live-indicator" aria-live="polite">
        <span class="dot" aria-hidden="true" /> Live
      </span>
    );
  }
  return (
    <div class={`connection-banner ${connection}`} data-testid="connection-banner" role="status" aria-live="assertive">
      {connection === 'connecting'
        ? 'Connecting to live updates…'
        : 'Disconnected from live updates — reconnecting; the board will catch up on everything missed.'}
    </div>
  );
}
