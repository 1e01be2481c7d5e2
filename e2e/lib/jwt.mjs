// HS256 tokens for auth.mode jwt tests, built with node's crypto (no JWT library).
import { createHmac } from "node:crypto";

/**
 * An HS256 JWT signed with secret. claims are merged over the default
 * {exp: an hour from now}; exp is in seconds since the epoch.
 */
export function mintJWT(secret, claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}
