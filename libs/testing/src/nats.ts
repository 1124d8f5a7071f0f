import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Namespace } from '@flotilla/contracts';

export function testNatsUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env['TEST_NATS_URL'] || env['NATS_URL']?.split(',')[0] || 'nats://127.0.0.1:4222';
}

export interface TestNamespace {
  /** The FLOTILLA_NAMESPACE value for this run, e.g. `t3f9a01c2`. */
  readonly prefix: string;
  readonly ns: Namespace;
  readonly natsUrl: string;
  /** Deletes every stream, consumer and bucket created under the namespace. */
  cleanup(): Promise<void>;
}

/** A namespace no other run uses, so subjects, streams and buckets never collide. */
export function createTestNamespace(natsUrl = testNatsUrl()): TestNamespace {
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const ns = new Namespace(prefix);
  return {
    prefix,
    ns,
    natsUrl,
    cleanup: async () => {
      const nc = await connect({ servers: natsUrl, name: `test-cleanup-${prefix}` });
      try {
        await deleteNamespaceStreams(nc, ns);
      } finally {
        await nc.close();
      }
    },
  };
}

export async function deleteNamespaceStreams(nc: NatsConnection, ns: Namespace): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const owned = [ns.stream(''), `KV_${ns.bucket('')}`, `OBJ_${ns.bucket('')}`];
  const deleted: string[] = [];
  for await (const name of jsm.streams.names()) {
    if (owned.some((p) => name.startsWith(p))) {
      await jsm.streams.delete(name);
      deleted.push(name);
    }
  }
  return deleted;
}
