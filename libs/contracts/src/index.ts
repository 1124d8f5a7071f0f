export { Namespace } from './namespace.js';
