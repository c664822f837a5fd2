// The requests of the header-level scenarios, shared by the servers and the harness.

export const CORS_ORIGIN = 'http://localhost:3000'
export const API_KEY = 'test-key-123'
export const BASIC_USER = 'demo'
export const BASIC_PASSWORD = 'correct horse battery staple'

/** A CORS simple request from an allowed origin, with credentials. */
export const corsSimple = { method: 'GET', headers: { origin: CORS_ORIGIN } }

/** A CORS preflight from an allowed origin asking for a custom header. */
export const corsPreflight = {
  method: 'OPTIONS',
  headers: {
    origin: CORS_ORIGIN,
    'access-control-request-method': 'PUT',
    'access-control-request-headers': 'content-type, x-api-key',
  },
}

/** A request that passes the API key check. */
export const apiKeyPass = { method: 'GET', headers: { 'x-api-key': API_KEY } }

/** A request that passes Basic authentication. */
export const basicPass = {
  method: 'GET',
  headers: {
    authorization: `Basic ${Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64')}`,
  },
}
