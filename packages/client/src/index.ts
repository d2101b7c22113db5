/** Every client from one entry; `@eventline/client/api`, `/realtime` and `/inbox` load one each. */
export * from './api.js';
export * from './realtime.js';
export * from './inbox.js';
export { problem, refusalCloseCode, CLOSE, PROBLEM_BASE, type ClientFrame, type ServerFrame, type FieldError, type InboxClientFrame, type InboxServerFrame } from './protocol.js';
