export {
  decodeJson,
  encodeJson,
  Messaging,
  messagingAttributes,
  type Handler,
  type MessagingOptions,
  type NatsErrorKind,
  type RequestMeta,
  type RequestOptions,
  type ServeOptions,
} from './messaging.js';
export { ensureConsumer, ensureStream, isMissingJetStreamResource, reopening, whileJetStreamStarts, type ConsumerSpec, type StreamSpec } from './jetstream.js';
export { FlotillaNatsTransport, NatsRequestContext } from './nest-transport.js';
