export { CommandHandler, followingCommandHandler, IDEMPOTENCY_KEY, type CommandContext, type CommandHandlerOptions, type CommandPreview, type CommandResult, type DomainEvent } from './command-handler.js';
export { readModelsReached, waitForProjections } from './read-your-writes.js';
export { commandContext, identityOf, systemContext, tenantScope } from './request-context.js';
