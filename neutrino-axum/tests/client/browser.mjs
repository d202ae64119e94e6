// The browser of the official-client scripts (social.mjs, sso.mjs,
// account-social.mjs): fetch
// without automatic redirects and a cookie jar for the server's origin, sent
// with the page's `origin` header, as a browser on that page would.
export function browser(baseURL) {
  const origin = new URL(baseURL).origin;
  const jar = new Map();
  const keep = (response) => {
    for (const c of response.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      const [k, v] = [pair.slice(0, i), pair.slice(i + 1)];
      if (v === "") jar.delete(k);
      else jar.set(k, v);
    }
  };
  const browserFetch = async (url, init = {}) => {
    const headers = new Headers(init.headers || {});
    if (jar.size > 0 && url.startsWith(origin)) {
      headers.set("cookie", [...jar].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    if (url.startsWith(origin)) headers.set("origin", origin);
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    if (url.startsWith(origin)) keep(response);
    return response;
  };
  // The client's fetch: every request through the browser.
  const fetchOptions = {
    customFetchImpl: async (input, init) =>
      browserFetch(typeof input === "string" ? input : input.url ?? input.href, init),
  };
  return { jar, fetch: browserFetch, fetchOptions };
}
