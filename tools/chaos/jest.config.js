import { jestConfig } from '../../jest.preset.js';

const config = jestConfig(import.meta.dirname);
export default { ...config, moduleNameMapper: { '^(\\.{1,2}/.*)\\.(js|ts)$': '$1' } };
