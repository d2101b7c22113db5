/** IPv4 embedded in IPv6, and cluster-internal names: each reaches a private host by another road. */
export const EMBEDDED_AND_CLUSTER = [
  'https://[::ffff:0:127.0.0.1]/', // IPv4-translated loopback
  'https://[::ffff:0:a9fe:a9fe]/', // IPv4-translated metadata
  'https://[2002:7f00:1::]/', // 6to4 of 127.0.0.1
  'https://[2002:a9fe:a9fe::]/', // 6to4 of 169.254.169.254
  'https://[2002:0a00:0001::1]/', // 6to4 of 10.0.0.1
  'https://[2001:0::1]/', // Teredo
  'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', // Teredo with a public server and client
  'https://[64:ff9b::8.8.8.8]/', // NAT64 (the translator reaches whatever the cluster reaches)
  'https://[64:ff9b::7f00:1]/', // NAT64 of loopback
  'https://[64:ff9b:1::a00:1]/', // local-use NAT64
  'https://[2606:4700::5efe:7f00:1]/', // ISATAP interface id carrying 127.0.0.1
  'https://api.default.svc/hook',
  'https://api.default.svc.cluster.local/hook',
  'https://kube-dns.kube-system.cluster.local/',
  'https://API.Default.SVC./hook',
];
