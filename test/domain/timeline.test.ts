import { describe, expect, it } from 'vitest';
import { parseGraceDays } from '../../src/domain/settings';
import { csvField, expiryCutoff, ftsQuery, pageOf } from '../../src/domain/timeline';

describe('timeline rules', () => {
  it('reads the grace period from its one parser, falling back to 7 days on a missing, malformed or out-of-range value', () => {
    expect(parseGraceDays(undefined)).toBe(7);
    expect(parseGraceDays('')).toBe(7);
    expect(parseGraceDays(' ')).toBe(7);
    expect(parseGraceDays('-3')).toBe(7);
    expect(parseGraceDays('abc')).toBe(7);
    expect(parseGraceDays('1.5')).toBe(7);
    expect(parseGraceDays('366')).toBe(7);
    expect(parseGraceDays('30')).toBe(30);
    expect(parseGraceDays('0')).toBe(0);
  });

  it('cuts expired entries off the grace period before now', () => {
    expect(expiryCutoff(10 * 86_400_000, 7)).toBe(3 * 86_400_000);
  });

  it('turns search text into quoted prefix terms, so FTS5 syntax is searched literally', () => {
    expect(ftsQuery('payment reminder')).toBe('"payment"* "reminder"*');
    expect(ftsQuery('john" OR NEAR(')).toBe('"john"* "OR"* "NEAR"*');
    expect(ftsQuery('ação')).toBe('"ação"*');
    expect(ftsQuery('"*()')).toBeNull();
  });

  it('writes RFC 4180 CSV fields and defuses spreadsheet formulas', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(3)).toBe('3');
    expect(csvField(true)).toBe('true');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('=1+1')).toBe("'=1+1");
    expect(csvField('-cmd')).toBe("'-cmd");
    expect(csvField({ a: [1, 2] })).toBe('"{""a"":[1,2]}"');
  });

  it('numbers pages from 1', () => {
    expect(pageOf(0, 50)).toBe(1);
    expect(pageOf(49, 50)).toBe(1);
    expect(pageOf(50, 50)).toBe(2);
  });
});
