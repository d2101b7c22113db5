/** Both clients from one entry; `@eventline/client/api` and `@eventline/client/realtime` load one each. */
export * from './api.js';
export * from './realtime.js';
export { problem, refusalCloseCode, CLOSE, PROBLEM_BASE, type ClientFrame, type ServerFrame, type FieldError } from './protocol.js';
