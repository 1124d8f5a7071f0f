/**
 * Baseline for the registry benchmark: the least any heartbeat consumer must do. It subscribes
 * to the same heartbeats as the registry (its own connection, no queue group), parses each one
 * and stores it in a Map, nothing else. Run by registry.bench.ts as a separate process, so its
 * CPU is measured the same way as the registry's. SIGUSR2 starts the measured window (lags are
 * kept from then on); SIGTERM prints the result as one JSON line and exits.
 */
import { connect } from '@nats-io/transport-node';

const subject = process.env['BASELINE_SUBJECT'] ?? 'registry.heartbeats.*';
const nc = await connect({
  servers: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
  name: 'registry-bench-baseline',
});
const latest = new Map<string, unknown>();
let measuring = false;
let lags: number[] = [];
let received = 0;

nc.subscribe(subject, {
  callback: (_err, msg) => {
    const now = Date.now();
    const hb = JSON.parse(new TextDecoder().decode(msg.data)) as {
      node_id: string;
      sent_at: string;
    };
    latest.set(hb.node_id, hb);
    received++;
    if (measuring) lags.push(now - Date.parse(hb.sent_at));
  },
});
await nc.flush();

process.on('SIGUSR2', () => {
  measuring = true;
  lags = [];
});
process.on('SIGTERM', () => {
  lags.sort((a, b) => a - b);
  const q = (p: number) =>
    lags.length ? lags[Math.min(lags.length - 1, Math.floor(p * lags.length))]! : null;
  process.stdout.write(
    `${JSON.stringify({ received, measured: lags.length, nodes: latest.size, lag_ms: { p50: q(0.5), p99: q(0.99), max: lags.at(-1) ?? null } })}\n`,
  );
  void nc.close().then(() => process.exit(0));
});
process.stdout.write('ready\n');
