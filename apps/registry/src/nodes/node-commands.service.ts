import { Injectable } from '@nestjs/common';
import { CommandHandler, type CommandContext, type CommandPreview, type CommandResult } from '@flotilla/application';
import { nodeDecider, nodeStream, type NodeCommand, type NodeState } from '@flotilla/domain';
import { NodeDirectory } from './node-directory.js';

/**
 * Every write to a node stream: through the one command handler (read → fold → decide → append
 * with the expected revision → bounded retry), then straight into this replica's directory, so
 * the next decision here sees it without waiting for the log subscription to bring it back.
 */
@Injectable()
export class NodeCommands {
  constructor(
    private readonly commands: CommandHandler,
    private readonly directory: NodeDirectory,
  ) {}

  async execute(
    nodeId: string,
    command: NodeCommand,
    ctx: CommandContext,
  ): Promise<CommandResult<NodeState>> {
    try {
      const result = await this.commands.handle(nodeDecider, nodeStream(nodeId), command, ctx);
      this.directory.applyState(nodeId, result.state, result.revision, Date.now());
      return result;
    } catch (err) {
      // A refusal means the decider saw a newer state than this replica's view (another replica
      // wrote): bring the view up to date before anybody decides on it again.
      await this.refresh(nodeId).catch(() => undefined);
      throw err;
    }
  }

  /** The command decided with every check of the real one; nothing appended, the directory untouched. */
  preview(nodeId: string, command: NodeCommand, ctx: CommandContext): Promise<CommandPreview<NodeState>> {
    return this.commands.preview(nodeDecider, nodeStream(nodeId), command, ctx);
  }

  /** Re-reads the node's stream into the directory. */
  async refresh(nodeId: string): Promise<void> {
    const { state, revision } = await this.commands.load(nodeDecider, nodeStream(nodeId), { fresh: true });
    this.directory.applyState(nodeId, state, revision, Date.now());
  }
}
