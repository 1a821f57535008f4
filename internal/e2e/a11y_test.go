package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
)

// a11yAudit is what an accessibility review checks first, run on the page as it is shown:
// the page has a language and a title; every visible control and media element has an
// accessible name and can take the keyboard's focus; images have alt text; visible text
// has the contrast WCAG 2 AA asks (4.5:1, 3:1 for large text) against the background it
// is drawn on (disabled controls are exempt, as in WCAG); and nothing makes the page wider than the screen (tables scroll inside
// their own box).
const a11yAudit = `(() => {
  const problems = [];
  const html = document.documentElement;
  if (!html.lang) problems.push("the page has no lang");
  if (!document.title.trim()) problems.push("the page has no title");
  const shown = (el) => { const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== "hidden" && cs.display !== "none"; };
  const text = (id) => (document.getElementById(id) || {}).textContent || "";
  const nameOf = (el) => {
    if (el.getAttribute("aria-label")) return el.getAttribute("aria-label").trim();
    if (el.getAttribute("aria-labelledby")) return el.getAttribute("aria-labelledby").split(/\s+/).map(text).join(" ").trim();
    if (el.labels && el.labels.length) return [...el.labels].map((l) => l.textContent).join(" ").trim();
    if (el.tagName === "BUTTON" || el.tagName === "A") return el.textContent.trim();
    if (el.type === "submit" || el.type === "button") return (el.value || "").trim();
    return (el.title || "").trim();
  };
  const what = (el) => el.outerHTML.slice(0, 100);
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href], video, svg[role=img]")) {
    if (!shown(el)) continue;
    if (!nameOf(el)) problems.push("no accessible name: " + what(el));
    if (el.matches("input, select, textarea, button, a") && el.tabIndex < 0) problems.push("not reachable by keyboard: " + what(el));
  }
  for (const img of document.querySelectorAll("img")) if (!img.hasAttribute("alt")) problems.push("image without alt: " + what(img));
  const rgba = (c) => { const m = /rgba?\(([^)]+)\)/.exec(c); if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const lum = ({ r, g, b }) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c && c.a >= 0.5) return c; }
    return { r: 255, g: 255, b: 255, a: 1 }; };
  const seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!el || seen.has(el) || !walk.currentNode.textContent.trim() || el.closest("option, script, style, svg, :disabled") || !shown(el)) continue;
    seen.add(el);
    const cs = getComputedStyle(el), fg = rgba(cs.color), bg = background(el);
    if (!fg) continue;
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05), size = parseFloat(cs.fontSize);
    const need = size >= 24 || (Number(cs.fontWeight) >= 700 && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) problems.push("contrast " + ratio.toFixed(2) + " < " + need + ": " + JSON.stringify(el.textContent.trim().slice(0, 40)));
  }
  if (html.scrollWidth > innerWidth + 1) problems.push("the page is " + html.scrollWidth + " px wide on a " + innerWidth + " px screen");
  return problems;
})()`

// audit reports what a11yAudit finds on the page browser shows.
func audit(t *testing.T, browser context.Context, where string) {
	t.Helper()
	problems, err := chromedp.Run(browser, chromedp.Evaluate[[]string](a11yAudit))
	if err != nil {
		t.Errorf("accessibility audit of %s: %v", where, err)
		return
	}
	for _, p := range problems {
		t.Errorf("%s: %s", where, p)
	}
}
