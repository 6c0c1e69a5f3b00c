import { useEffect, useRef } from 'preact/hooks';
import { BoardMap } from '../map/boardMap';
import type { BoardState } from '../state/board';
import { useStore } from '../state/store';

export function MapView({ state, onDrawn }: { state: BoardState; onDrawn: () => void }) {
  const container = useRef<HTMLDivElement>(null);
  const drawMode = useStore(state.drawMode);

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const map = new BoardMap(element, state, onDrawn);
    // The columns resize with the window and the wall layout.
    const observer = new ResizeObserver(() => map.resize());
    observer.observe(element);
    return () => {
      observer.disconnect();
      map.dispose();
    };
  }, [state]);

  return (
    <div class="map-wrap">
      <div class="map" data-testid="map" ref={container} />
      {drawMode.step !== 'off' && (
        <div class="map-hint" role="status">
          {drawMode.step === 'centre' ? 'Click the centre of the search circle' : 'Click to set the radius'} — Escape cancels
        </div>
      )}
    </div>
  );
}
