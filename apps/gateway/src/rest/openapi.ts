import { z } from 'zod';
import { VERSION } from '@flotilla/platform';
import { NEEDS } from '../auth/access-policy.js';
import { placementPreview, plannedEvent } from '@flotilla/contracts';
import { REST_ROUTES, type RestRoute } from './rest-routes.js';

type Json = Record<string, unknown>;

const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): Json => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', reused: 'inline' }) as Json;
  return rest;
};

const ERROR = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } },
    },
  },
};

const PATH_PARAMS = /:([a-z_]+)/g;

function operation(route: RestRoute): Json {
  const pathParams = [...route.path.matchAll(PATH_PARAMS)].map((m) => m[1]!);
  const request = schemaOf(route.route.request, 'input');
  const props = { ...((request['properties'] as Json | undefined) ?? {}) };
  for (const p of pathParams) delete props[p];
  const parameters: Json[] = pathParams.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
  const responseSchema =
    route.route.commandReply ? ((route.route.response as z.ZodObject<{ result: z.ZodType }>).shape.result ?? route.route.response) : route.route.response;
  const ok: Json = route.render
    ? { description: 'OK', content: { 'text/markdown': { schema: { type: 'string' } } } }
    : { description: 'OK', content: { 'application/json': { schema: schemaOf(responseSchema, 'output') } } };
  const op: Json = {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    parameters,
    responses: {
      [String(route.status ?? (route.created ? 201 : 200))]: ok,
      '400': { description: 'Invalid input; details.issues names every bad path', content: { 'application/json': { schema: ERROR } } },
      '401': { description: 'No or invalid credentials', content: { 'application/json': { schema: ERROR } } },
      '403': { description: `Needs ${NEEDS[route.route.access]}`, content: { 'application/json': { schema: ERROR } } },
      '429': { description: 'Rate limited (Retry-After)', content: { 'application/json': { schema: ERROR } } },
      '404': { description: 'Not found', content: { 'application/json': { schema: ERROR } } },
      '409': { description: 'Concurrency or state conflict', content: { 'application/json': { schema: ERROR } } },
      '422': { description: 'The current state forbids it; details.rule names the rule', content: { 'application/json': { schema: ERROR } } },
      '503': { description: 'A dependency is unavailable', content: { 'application/json': { schema: ERROR } } },
    },
  };
  if (route.method === 'GET' || route.method === 'DELETE') {
    for (const [name, schema] of Object.entries(props)) parameters.push({ name, in: 'query', required: false, schema });
  } else {
    const content: Json = { 'application/json': { schema: { ...request, properties: props } } };
    if (route.operationId === 'registerBlueprint') content['application/yaml'] = { schema: { type: 'string', description: 'The blueprint as YAML' } };
    op['requestBody'] = { required: route.method === 'POST' && route.created === true, content };
  }
  if (route.route.commandReply) {
    (op['responses'] as Json)['202'] = {
      description:
        'With ?wait=true: the command is stored, but the read models did not show it within READ_YOUR_WRITES_TIMEOUT_MS (header Flotilla-Read-Models: behind; Flotilla-Position is its log position). A success: do not send it again.',
      content: ok['content'],
    };
    parameters.push(
      { name: 'wait', in: 'query', required: false, schema: { type: 'boolean' }, description: 'Answer once the read models show the change (read-your-writes); 202 with Flotilla-Read-Models: behind if they do not in time' },
      { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' }, description: 'A repeat with the same key returns the first result and changes nothing' },
    );
  }
  if (route.route.dryRun) {
    // A dry run that would place agents (drain, the strategy switch, and cluster commands that spawn) adds its plan.
    const dry = z.object({ dry_run: z.literal(true), result: responseSchema, events: z.array(plannedEvent), plan: placementPreview.optional() });
    const responses = op['responses'] as Json;
    const dryDoc = { 'application/json': { schema: schemaOf(dry, 'output') } };
    const okCode = String(route.status ?? (route.created ? 201 : 200));
    responses['200'] =
      okCode === '200'
        ? { description: 'OK; with ?dry_run=true, the decision instead (header Flotilla-Dry-Run: true)', content: { 'application/json': { schema: { oneOf: [schemaOf(responseSchema, 'output'), dryDoc['application/json'].schema] } } } }
        : { description: 'With ?dry_run=true: the decision (header Flotilla-Dry-Run: true); nothing was stored', content: dryDoc };
    parameters.push({
      name: 'dry_run',
      in: 'query',
      required: false,
      schema: { type: 'boolean' },
      description: 'Decide with every check of the real command and answer the events it would append and the resulting state; nothing is stored or reserved',
    });
  }
  return op;
}

/** The OpenAPI document, generated from the route table and the same zod schemas the services validate with. */
export function openApiDocument(): Json {
  const paths: Record<string, Json> = {};
  for (const route of REST_ROUTES) {
    const path = route.path.replace(PATH_PARAMS, '{$1}');
    paths[path] = { ...(paths[path] ?? {}), [route.method.toLowerCase()]: operation(route) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Flotilla',
      version: VERSION,
      description: 'Control plane for fleets of AI agents. Every command is recorded as an event; reads come from read models.',
    },
    servers: [{ url: '/' }],
    paths,
    tags: [{ name: 'blueprints' }, { name: 'clusters' }, { name: 'tasks' }, { name: 'nodes' }, { name: 'control-plane' }, { name: 'admin' }],
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key or a JWT (claims sub, tenant, role, exp)' },
      },
    },
    security: [{ apiKey: [] }, { bearer: [] }],
  };
}
