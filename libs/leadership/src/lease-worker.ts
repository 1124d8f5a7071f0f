// The lease worker (see LeaseKeeper): campaigns and renews this process's leases on a thread and
// a NATS connection of its own, and tells the main thread when it is elected or demoted.
import { parentPort, workerData } from 'node:worker_threads';
import { Messaging } from '@flotilla/messaging';
import { Campaign } from './campaign.js';
import type { FromWorker, LeaseWorkerData, ToWorker } from './lease-keeper.js';
import { answerPresence, openBuckets } from './lease.js';

const data = workerData as LeaseWorkerData;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
const log = (level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}) => send({ t: 'log', level, msg, fields });

const epochWaiters = new Map<number, { resolve: (v: number) => void; reject: (e: Error) => void }>();
let nextEpochId = 1;
const newEpoch = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const id = nextEpochId++;
    epochWaiters.set(id, { resolve, reject });
    send({ t: 'epoch?', id });
  });

const messaging = await Messaging.connect({ servers: data.servers, name: data.name, namespace: data.namespace, user: data.user, password: data.password, requestTimeoutMs: data.ttlMs, waitOnFirstConnect: true });
const buckets = await openBuckets(messaging, data.ttlMs, data.replicas);
answerPresence(messaging, data.memberId);

interface Running {
  readonly campaign: Campaign;
  timer: NodeJS.Timeout | undefined;
  ticking: Promise<void>;
  stopped: boolean;
}
const running = new Map<string, Running>();

function schedule(role: string, r: Running): void {
  if (r.stopped) return;
  r.timer = setTimeout(() => {
    r.campaign.checkExpiry();
    r.ticking = r.campaign.tick().finally(() => schedule(role, r));
  }, r.campaign.interval);
}

function join(role: string): void {
  if (running.has(role)) return;
  const campaign = new Campaign(
    { ...buckets, nc: messaging.nc, ns: messaging.ns },
    { role, memberId: data.memberId, ttlMs: data.ttlMs, ...(data.epochs ? { newEpoch } : {}), requireEpoch: data.requireEpoch, warn: (msg, fields) => log('warn', msg, fields) },
    {
      elected: (term, acquiredAt) => send({ t: 'elected', role, term, acquiredAt }),
      demoted: (reason) => send({ t: 'demoted', role, reason }),
    },
  );
  const r: Running = { campaign, timer: undefined, ticking: Promise.resolve(), stopped: false };
  running.set(role, r);
  r.ticking = campaign.tick().finally(() => schedule(role, r));
}

async function leave(role: string): Promise<void> {
  const r = running.get(role);
  if (!r) return;
  r.stopped = true;
  clearTimeout(r.timer);
  await r.ticking;
  await r.campaign.stop();
  await r.campaign.leaveMembers();
  running.delete(role);
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'join':
      join(m.role);
      return;
    case 'leave':
      void leave(m.role).then(
        () => send({ t: 'done', id: m.id, result: true }),
        () => send({ t: 'done', id: m.id, result: false }),
      );
      return;
    case 'handover': {
      const r = running.get(m.role);
      void (r ? r.campaign.handover(m.to) : Promise.resolve(false)).then((result) => send({ t: 'done', id: m.id, result }));
      return;
    }
    case 'epoch': {
      const w = epochWaiters.get(m.id);
      epochWaiters.delete(m.id);
      if (m.error !== undefined) w?.reject(new Error(m.error));
      else w?.resolve(m.value ?? 0);
      return;
    }
    default: {
      const never: never = m;
      log('error', 'unknown message', { message: never });
    }
  }
});
