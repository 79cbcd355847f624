// Addresses: the server's (possibly relative) URLs made absolute, and monitor-sent links
// made safe to render.

/** A URL as a monitor or calendar app needs it: absolute, against this page's origin. */
export function absoluteUrl(url: string): string {
  try {
    return new URL(url, window.location.origin).href;
  } catch {
    return url;
  }
}

/**
 * `href` if it is an absolute http(s) URL, else null. Links come from monitors (any
 * string a sender chose): `javascript:`, `data:` and relative ones are never made links.
 */
export function safeHref(href: string): string | null {
  const trimmed = href.trim();
  if (!/^https?:\/\//i.test(trimmed)) return null;
  try {
    const u = new URL(trimmed);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}
