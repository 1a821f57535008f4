// The pages' ICE servers: from the Link headers of an OPTIONS request to a WHIP or WHEP
// endpoint (RFC 9725 §4.6), asked for before the offer, so that a viewer or a creator
// whose network drops UDP, or lets only TLS out, gathers relay candidates through the
// node's TURN server. The TURN credentials are short-lived and good for one join.
"use strict";

async function iceServers(url) {
  try {
    const resp = await fetch(url, { method: "OPTIONS" });
    return parseIceLinks(resp.headers.get("Link") || "");
  } catch { return []; }
}

function parseIceLinks(header) {
  const out = [];
  for (const link of header.split(/,\s*(?=<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(link);
    if (!m || !m[1]) continue;
    const params = {};
    for (const p of m[2].split(";")) {
      const kv = /^\s*([a-zA-Z-]+)\s*=\s*"?([^"]*)"?\s*$/.exec(p);
      if (kv) params[kv[1].toLowerCase()] = kv[2];
    }
    if (params.rel !== "ice-server") continue;
    const server = { urls: m[1] };
    if (params.username) { server.username = params.username; server.credential = params.credential || ""; }
    out.push(server);
  }
  return out;
}
