/** The proxy's error vocabulary: one class per kind of failure, each with a stable `code`. */
export * from './auth.js';
export * from './call.js';
export * from './config.js';
export * from './connect.js';
export * from './failure.js';
export * from './sign-in.js';
export * from './token-store.js';
