import { describe, expect, it } from 'vitest';
import { jsonBytes, utf8Bytes } from '../../src/domain/json';

const encoded = (s: string) => new TextEncoder().encode(s).byteLength;

describe('utf8Bytes (UTF-8 length without encoding)', () => {
  it('equals what TextEncoder writes: ASCII, 2-, 3- and 4-byte characters, lone and reversed surrogates', () => {
    const samples = ['', 'plain ascii', 'aé€', '😀', 'x😀y', '\ud83d', '\ude00', '\ude00\ud83d', 'a\ud83db', '\u0000\u007f\u0080\u07ff\u0800\uffff'];
    for (const s of samples) expect(utf8Bytes(s), JSON.stringify(s)).toBe(encoded(s));
  });

  it('equals TextEncoder on random strings of every code unit', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 500; n++) {
      const units = Array.from({ length: next() % 40 }, () => {
        const r = next() % 4;
        return r === 0 ? next() % 0x80 : r === 1 ? 0xd800 + (next() % 0x800) : next() % 0x10000;
      });
      const s = String.fromCharCode(...units);
      expect(utf8Bytes(s)).toBe(encoded(s));
    }
  });

  it('jsonBytes is the UTF-8 length of the JSON text', () => {
    const v = { note: 'café 😀', list: [1, 'два'] };
    expect(jsonBytes(v)).toBe(encoded(JSON.stringify(v)));
  });
});
