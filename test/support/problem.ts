import { expect } from 'vitest';

/** An RFC 9457 problem as the API answers it (`src/http/problem.ts`). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  request_id: string;
  errors?: { path: string; message: string }[];
  [member: string]: unknown;
}

/** The field paths a problem names, sorted (a field named twice appears twice). */
export const fieldPaths = (problem: Problem): string[] => (problem.errors ?? []).map((e) => e.path).sort();

/**
 * The one check of an error answer: the status, `application/problem+json`, the RFC 9457 members with
 * the request id of the `x-request-id` header, and — when `paths` is given — exactly those fields
 * named in `errors`. `label` names the case in a failure message when a test loops over cases.
 * Returns the body for further checks.
 */
export async function expectProblem(res: Response, status: number, paths?: string[], label?: string): Promise<Problem> {
  expect(res.status, label ?? (res.status === status ? undefined : await res.clone().text())).toBe(status);
  expect(res.headers.get('content-type'), label).toBe('application/problem+json');
  const body = (await res.json()) as Problem;
  expect(body.type, label).toMatch(/^https:\/\/eventline\.dev\/problems\/[a-z-]+$/);
  expect(typeof body.title, label).toBe('string');
  expect(body.title.length, label).toBeGreaterThan(0);
  expect(body.status, label).toBe(status);
  expect(typeof body.detail, label).toBe('string');
  expect(body.request_id, label).toBe(res.headers.get('x-request-id'));
  expect(body.request_id.length, label).toBeGreaterThan(0);
  if (paths) {
    expect(Array.isArray(body.errors), label).toBe(true);
    for (const e of body.errors!) expect(typeof e.message, label).toBe('string');
    // Distinct paths: a field may carry more than one message.
    expect([...new Set(fieldPaths(body))], label).toEqual([...paths].sort());
  }
  return body;
}
