import { describe, expect, it } from 'vitest';
import { isBlockedIPv6, webhookUrlProblem } from '../../src/domain/webhook-urls';
import { EMBEDDED_AND_CLUSTER } from '../support/webhook-urls';


describe('webhook URL rules for IPv4 inside IPv6 and cluster names', () => {
  it.each(EMBEDDED_AND_CLUSTER)('refuses %s', (url) => {
    expect(webhookUrlProblem(url, false)).toMatch(/private|local|internal|reserved/);
  });

  it('applies the IPv4 rules to a 6to4 address: a public embedded IPv4 passes', () => {
    // 2002:0808:0808:: is 6to4 of 8.8.8.8; 2002:c0a8:0101:: of 192.168.1.1.
    expect(isBlockedIPv6('2002:808:808::1')).toBe(false);
    expect(isBlockedIPv6('2002:c0a8:101::1')).toBe(true);
    expect(webhookUrlProblem('https://[2002:808:808::1]/hook', false)).toBeNull();
  });

  it('still accepts public hosts and names that merely contain the blocked words', () => {
    for (const url of ['https://svc.example.com/hook', 'https://cluster.example.org/local', 'https://[2606:4700::1111]/hook', 'https://my-svc.io/x']) {
      expect(webhookUrlProblem(url, false), url).toBeNull();
    }
  });
});
