// One tab stop for a listbox: arrow keys, Home, End and Page keys move focus among its options, Enter or Space chooses the focused one.
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';

/**
 * Roving focus over `count` options (elements with role "option" inside `list`): only the active one is in the tab
 * order; it follows `chosenIndex` when that changes.
 * @example
 * const { list, activeIndex, setActive, onKeyDown } = useListboxKeys<HTMLUListElement>(items.length, selected, open);
 */
export function useListboxKeys<T extends HTMLElement>(count: number, chosenIndex: number, onChoose: (index: number) => void) {
  const list = useRef<T>(null);
  const [active, setActive] = useState(chosenIndex);
  const activeIndex = Math.min(active, count - 1);
  useEffect(() => setActive(chosenIndex), [chosenIndex]);

  const moveTo = (index: number) => {
    const next = Math.max(0, Math.min(count - 1, index));
    setActive(next);
    list.current?.querySelectorAll<HTMLElement>('[role="option"]')[next]?.focus();
  };
  const onKeyDown = (event: KeyboardEvent) => {
    const moves: Record<string, number> = { ArrowDown: activeIndex + 1, ArrowUp: activeIndex - 1, Home: 0, End: count - 1, PageDown: activeIndex + 10, PageUp: activeIndex - 10 };
    if (event.key in moves) {
      event.preventDefault();
      moveTo(moves[event.key]);
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      onChoose(activeIndex);
    }
  };
  return { list, activeIndex, setActive, onKeyDown };
}
