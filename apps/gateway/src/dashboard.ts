import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { actsForPlatform } from '@flotilla/contracts';
import { httpErrorOf } from '@flotilla/platform';
import type { Logger } from '@flotilla/telemetry';
import type { RestGateway } from './rest/rest-gateway.js';

/**
 * The dashboard's pages may run scripts from this origin only, and nothing inline; everything
 * else the gateway answers keeps `default-src 'none'`. Stylesheets come from this origin (the
 * bundle's CSS, Lit's constructed sheets); style attributes are allowed (`style-src-attr`: Lit's
 * styleMap and uPlot position elements with them, and every value in them is a bound property,
 * never markup). No inline <style> or script element can run.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; style-src-elem 'self'; style-src-attr 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** Where the built dashboard is: DASHBOARD_DIR, else apps/dashboard/dist beside this app. */
export function dashboardDir(configured: string | undefined): string {
  if (configured) return path.resolve(configured);
  return path.resolve(
    path.dirname(fileURLToPath(import.meta.url)),
    '..',
    '..',
    'dashboard',
    'dist',
  );
}

/** The built files, read once at start (a few hundred KiB): index.html and /assets/*. */
function load(dir: string): Map<string, Asset> | undefined {
  if (!fs.existsSync(path.join(dir, 'index.html'))) return undefined;
  const assets = new Map<string, Asset>();
  const walk = (sub: string) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.posix.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else
        assets.set(`/${rel}`, {
          body: fs.readFileSync(path.join(dir, rel)),
          type: TYPES[path.extname(entry.name)] ?? 'application/octet-stream',
        });
    }
  };
  walk('');
  return assets;
}

/** Routes of the dashboard and of `whoami`, which the gateway's route guard lets through. */
export const DASHBOARD_ROUTES = ['GET /', 'GET /assets/*', 'GET /api/whoami'];

/**
 * `GET /` and `GET /assets/*`: the dashboard (apps/dashboard, built by `npm start` and the image).
 * Hashed assets are cached for a year; index.html is revalidated. Not built: `/` says so (503).
 *
 * `GET /api/whoami`: who the caller's key is (actor, tenant, role, platform access), so the
 * dashboard shows only the actions the API would allow. The API still decides every call.
 */
export function registerDashboard(
  fastify: FastifyInstance,
  rest: RestGateway,
  logger: Logger,
  configured: string | undefined,
): void {
  const dir = dashboardDir(configured);
  const assets = load(dir);
  if (!assets)
    logger.warn(
      { dir },
      'the dashboard is not built: / answers 503 (npm run build, or npm start, builds it)',
    );

  const send = (reply: FastifyReply, asset: Asset, cache: string) =>
    reply
      .status(200)
      .header('content-type', asset.type)
      .header('cache-control', cache)
      .header('content-security-policy', DASHBOARD_CSP)
      .send(asset.body);

  fastify.get('/', async (_req, reply) => {
    const index = assets?.get('/index.html');
    if (!index) {
      return reply
        .status(503)
        .header('content-type', 'application/json')
        .send({
          error: {
            code: 'unavailable',
            message: `the dashboard is not built (no index.html in ${dir}): run npm run build`,
            details: { dir },
          },
        });
    }
    return send(reply, index, 'no-cache');
  });
  fastify.get('/assets/*', async (req: FastifyRequest, reply) => {
    const asset = assets?.get(req.url.split('?')[0]!);
    if (!asset)
      return reply
        .status(404)
        .header('content-type', 'application/json')
        .send({
          error: { code: 'not_found', message: `no dashboard asset ${req.url}`, details: {} },
        });
    return send(reply, asset, 'public, max-age=31536000, immutable');
  });
  fastify.get('/api/whoami', async (req, reply) => {
    try {
      const caller = await rest.admit(req, 'read', 'whoami');
      return reply.send({
        actor: caller.actor,
        tenant_id: caller.tenantId,
        role: caller.role,
        platform: actsForPlatform(caller),
      });
    } catch (err) {
      const e = httpErrorOf(err);
      return reply.status(e.status).headers(e.headers).send(e.body);
    }
  });
}
