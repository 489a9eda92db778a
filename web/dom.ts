/**
 * Small DOM helpers. Everything the page shows is built as elements with `textContent`, never from
 * HTML strings: names and paths come from disk, and the CSP forbids inline styles anyway.
 */

type Child = Node | string | null | undefined | false;

/** An element with a class (or none) and children; falsy children are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  for (const child of children) if (child) element.append(child);
  return element;
}

export const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;

/** A button whose accessible name says what it acts on (`Forget alpha`), shown as `label`. */
export function button(
  label: string,
  name: string,
  onClick: () => void,
  className?: string,
): HTMLButtonElement {
  const b = h("button", className ?? null, label);
  b.type = "button";
  if (name !== label) b.setAttribute("aria-label", name);
  b.addEventListener("click", onClick);
  return b;
}

export const code = (text: string) => h("code", null, text);

/**
 * Copies `text`. The page is a secure context (127.0.0.1), so the Clipboard API is there; when the
 * browser still refuses, the text is selected in `shown` so Ctrl+C copies it.
 */
export async function copyText(text: string, shown: HTMLElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const range = document.createRange();
    range.selectNodeContents(shown);
    const selection = getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    return false;
  }
}
