export { defaultRegistry } from './default-registry.js';
export { errorLine } from './error-line.js';
export { humanSize } from './human-size.js';
export { main } from './main.js';
