import { describe, expect, it } from 'vitest';
import { csvField } from '../../src/domain/csv';
import { csvField as timelineCsvField } from '../../src/domain/timeline';
import { call, newTenant } from '../support/api';

describe('CSV exports neutralize formula-like cells', () => {
  it('prefixes = + - @ cells of the events export with an apostrophe, exactly as the timeline export does', async () => {
    const t = await newTenant();
    const formulas = { correlation_id: '=HYPERLINK("https://evil.example","x")', causation_id: '@SUM(A1:A9)' };
    const res = await call('POST', '/api/v1/events', {
      key: t.key,
      body: { event_type: 'note.added', source: 'manual', payload: { text: '+1' }, metadata: formulas },
    });
    expect(res.status).toBe(201);
    const csv = await (await call('GET', '/api/v1/events/export?format=csv', { key: t.key })).text();
    const line = csv.split('\r\n')[1]!;
    expect(line).toContain(`"'=HYPERLINK(""https://evil.example"",""x"")"`);
    expect(line).toContain(`,'@SUM(A1:A9),`);
    expect(line).not.toMatch(/,=|,"=|,@/);
    // One function serves both exports.
    expect(timelineCsvField).toBe(csvField);
    for (const cell of ['=1+2', '+1', '-1', '@x', '\tx', 'plain']) expect(csvField(cell)).toBe(cell === 'plain' ? 'plain' : `'${cell}`);
    expect(csvField(-1)).toBe('-1');
  });
});
