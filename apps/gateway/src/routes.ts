/** The gateway's route tables, for tests that enumerate every route and method. */
export { ROLES_FOR } from './auth/access-policy.js';
export { GRPC_METHODS, type GrpcMethod } from './grpc/grpc-methods.js';
export { loadFlotillaProto } from './grpc/grpc-server.js';
export { PUBLIC_ROUTES } from './rest/rest-gateway.js';
export { REST_ROUTES, type RestRoute } from './rest/rest-routes.js';
export type { Access } from '@flotilla/contracts';
