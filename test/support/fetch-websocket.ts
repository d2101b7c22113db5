import { exports } from 'cloudflare:workers';
import type { WebSocketLike } from '../../packages/client/src/realtime';

/**
 * A WebSocket (as the client library expects one) whose connection is made through the Worker's
 * own fetch handler in this runtime: the upgrade goes to the real route and the real hub.
 */
export class FetchWebSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  private ws: WebSocket | null = null;
  static opened: FetchWebSocket[] = [];

  constructor(readonly url: string) {
    FetchWebSocket.opened.push(this);
    const httpUrl = url.replace(/^ws/, 'http');
    void exports.default.fetch(new Request(httpUrl, { headers: { upgrade: 'websocket' } })).then((res) => {
      const ws = res.webSocket;
      if (res.status !== 101 || !ws) {
        this.readyState = 3;
        // What a browser reports for a refused upgrade: 1006, whatever the HTTP status was.
        this.onclose?.({ code: 1006, reason: '' });
        return;
      }
      this.ws = ws;
      ws.accept();
      this.readyState = 1;
      ws.addEventListener('message', (e) => this.onmessage?.({ data: e.data }));
      ws.addEventListener('close', (e) => {
        this.readyState = 3;
        this.onclose?.({ code: e.code, reason: e.reason });
      });
      this.onopen?.({});
    });
  }

  send(data: string): void {
    this.ws?.send(data);
  }

  close(code?: number, reason?: string): void {
    if (!this.ws || this.readyState !== 1) return;
    this.readyState = 2;
    this.ws.close(code, reason);
    // The peer's close frame may not come back to a closing socket; report the close ourselves.
    this.readyState = 3;
    this.onclose?.({ code: code ?? 1000, reason: reason ?? '' });
  }
}
