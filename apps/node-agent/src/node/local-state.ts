import fs from 'node:fs/promises';
import path from 'node:path';
import { newId } from '@flotilla/domain';
import { AssignmentBook, type AssignmentSnapshot } from '../assignments/assignment-state.js';

/**
 * What a node agent keeps on its own disk (under FLOTILLA_DATA_DIR/node-agent): its generated
 * node id, its assignments as of the last event it acknowledged (so a restart resumes from there
 * instead of replaying its node's whole history), and a marker saying it drained its own node at
 * shutdown (so the next start undoes that drain, and only that one).
 */
export class LocalState {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = path.resolve(dataDir, 'node-agent');
  }

  /** NODE_ID when set; else the id generated on first start and kept since. */
  async nodeId(configured: string | undefined): Promise<string> {
    if (configured) return configured;
    const file = path.join(this.dir, 'node-id');
    try {
      const stored = (await fs.readFile(file, 'utf8')).trim();
      if (stored) return stored;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const id = newId('node');
    await this.write(file, `${id}\n`);
    return id;
  }

  async loadAssignments(nodeId: string): Promise<AssignmentBook | null> {
    try {
      const raw: unknown = JSON.parse(await fs.readFile(this.assignmentsFile(nodeId), 'utf8'));
      return AssignmentBook.isSnapshot(raw, nodeId) ? AssignmentBook.restore(raw) : null;
    } catch {
      // Missing or unreadable: the caller replays the node's history from the start instead.
      return null;
    }
  }

  saveAssignments(snapshot: AssignmentSnapshot): Promise<void> {
    return this.write(this.assignmentsFile(snapshot.nodeId), JSON.stringify(snapshot));
  }

  async forgetAssignments(nodeId: string): Promise<void> {
    await fs.rm(this.assignmentsFile(nodeId), { force: true });
  }

  async markSelfDrained(nodeId: string): Promise<void> {
    await this.write(this.markerFile(nodeId), new Date().toISOString());
  }

  async selfDrained(nodeId: string): Promise<boolean> {
    return fs.access(this.markerFile(nodeId)).then(
      () => true,
      () => false,
    );
  }

  async clearSelfDrained(nodeId: string): Promise<void> {
    await fs.rm(this.markerFile(nodeId), { force: true });
  }

  private assignmentsFile(nodeId: string): string {
    return path.join(this.dir, nodeId, 'assignments.json');
  }

  private markerFile(nodeId: string): string {
    return path.join(this.dir, nodeId, 'self-drained');
  }

  /** Atomic replace: a crash mid-write leaves the previous file, never half a file. */
  private async write(file: string, content: string): Promise<void> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, content);
    await fs.rename(tmp, file);
  }
}
