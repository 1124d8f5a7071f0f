// The floor: the parts no Flotilla request can avoid, each as its own process so its CPU is
// attributed like a service's.
//
//   node floor.ts responder   answers `<prefix>.floor.insert` (one-row INSERT, then reply) and
//                             `<prefix>.floor.echo` (reply with the request) over core NATS
//   node floor.ts http        a bare Fastify route, GET /floor/:id: a NATS echo through the
//                             responder, then a one-row SELECT, then JSON
//
// Environment: NATS_URL, DATABASE_URL, FLOOR_PREFIX, FLOOR_HTTP_PORT. Prints "ready" when serving.
import { connect } from '@nats-io/transport-node';
import Fastify from 'fastify';
import pg from 'pg';

const mode = process.argv[2];
const prefix = process.env['FLOOR_PREFIX'] ?? 'floor';
const nc = await connect({ servers: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', name: `bench-floor-${mode}` });
const pool = new pg.Pool({ connectionString: process.env['DATABASE_URL'], max: 16, application_name: 'floor' });

export const FLOOR_TABLE = `CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, body jsonb NOT NULL)`;

if (mode === 'responder') {
  await pool.query(FLOOR_TABLE);
  nc.subscribe(`${prefix}.floor.echo`, { callback: (_e, m) => void m.respond(m.data) });
  nc.subscribe(`${prefix}.floor.insert`, {
    callback: (_e, m) => {
      pool.query('INSERT INTO bench_floor (body) VALUES ($1) RETURNING id', [m.string()]).then(
        (r) => void m.respond(JSON.stringify({ ok: true, id: r.rows[0]!.id })),
        (err: Error) => void m.respond(JSON.stringify({ ok: false, error: err.message })),
      );
    },
  });
} else if (mode === 'http') {
  await pool.query(FLOOR_TABLE);
  // Row 0: the responder's inserts take ids from the sequence (1, 2, ...), never this one.
  await pool.query(`INSERT INTO bench_floor (id, body) VALUES (0, '{"name":"floor"}') ON CONFLICT (id) DO NOTHING`);
  const app = Fastify({ logger: false });
  app.get<{ Params: { id: string } }>('/floor/:id', async (req) => {
    const echo = await nc.request(`${prefix}.floor.echo`, JSON.stringify({ id: req.params.id }), { timeout: 5000 });
    const { rows } = await pool.query('SELECT id, body FROM bench_floor WHERE id = $1', [0]);
    return { echo: echo.json(), row: rows[0] };
  });
  await app.listen({ port: Number(process.env['FLOOR_HTTP_PORT'] ?? 0), host: '127.0.0.1' });
} else {
  process.stderr.write(`floor.ts: unknown mode '${mode}' (responder | http)\n`);
  process.exit(64);
}
await nc.flush();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void Promise.allSettled([nc.drain(), pool.end()]).then(() => process.exit(0));
});
