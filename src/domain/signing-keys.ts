/**
 * Realtime signing keys: HS256 secrets a tenant's backend signs realtime tokens with, with no round
 * trip to Eventline. The secret is shown once; at rest it is encrypted (AES-256-GCM) under a key
 * derived (HKDF-SHA-256) from TOKEN_SIGNING_SECRET, so that a copy of the database alone mints
 * nothing. The key id and tenant are the AES-GCM associated data: a ciphertext moved to another row
 * does not decrypt. Pure: Web Crypto only.
 */
import { fromBase64Url, toBase64Url } from './base64url';
import { randomToken } from './keys';

/** Signing key ids: `rsk_` + 20 characters; the prefix tells them apart from API key ids (UUIDs). */
export const SIGNING_KEY_PREFIX = 'rsk_';
const FORMAT = 'v1';
const encoder = new TextEncoder();

export const isSigningKeyId = (id: string): boolean => id.startsWith(SIGNING_KEY_PREFIX);

/** A fresh key: its id and its secret (`evlrt_` + 43 characters, 256 bits; the HS256 key is its UTF-8 bytes). */
export function newSigningKey(): { id: string; secret: string } {
  return { id: `${SIGNING_KEY_PREFIX}${randomToken(20)}`, secret: `evlrt_${randomToken(43)}` };
}

async function wrappingKey(masterSecret: string): Promise<CryptoKey> {
  if (!masterSecret) throw new Error('TOKEN_SIGNING_SECRET is empty');
  const base = await crypto.subtle.importKey('raw', encoder.encode(masterSecret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode('eventline'), info: encoder.encode('realtime-signing-keys') },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

const aad = (tenantId: string, keyId: string) => encoder.encode(`${tenantId}/${keyId}`);

/** `v1.<iv>.<ciphertext>` (base64url). */
export async function sealSecret(masterSecret: string, tenantId: string, keyId: string, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad(tenantId, keyId) }, await wrappingKey(masterSecret), encoder.encode(secret));
  return `${FORMAT}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(ct))}`;
}

/** The secret, or null when the sealed text does not open with this master secret (changed, or the row was tampered with). */
export async function openSecret(masterSecret: string, tenantId: string, keyId: string, sealed: string): Promise<string | null> {
  const [format, iv, ct] = sealed.split('.');
  if (format !== FORMAT || !iv || !ct) return null;
  const ivBytes = fromBase64Url(iv);
  const ctBytes = fromBase64Url(ct);
  if (!ivBytes || !ctBytes) return null;
  try {
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: ivBytes, additionalData: aad(tenantId, keyId) }, await wrappingKey(masterSecret), ctBytes);
    return new TextDecoder().decode(plain);
  } catch {
    return null;
  }
}
