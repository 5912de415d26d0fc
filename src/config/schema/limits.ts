import { z } from 'zod';

export const limits = z
  .strictObject({
    max_stanza_bytes: z.int().min(1024).max(16_777_216).default(262_144).describe('largest stanza accepted, in bytes, 1024..16777216'),
    max_depth: z.int().min(4).max(256).default(32).describe('deepest element nesting in a stanza, 4..256'),
    max_attributes: z.int().min(4).max(1024).default(64).describe('most attributes on one element, 4..1024'),
    max_attribute_bytes: z.int().min(64).max(1_048_576).default(8192).describe('longest attribute value, in bytes, 64..1048576'),
    max_name_bytes: z.int().min(16).max(4096).default(256).describe('longest element or attribute name, in bytes, 16..4096'),
    header_timeout: z.int().min(1).max(300).default(10).describe('seconds a new connection has to send its stream header, 1..300'),
    connections_per_ip: z.int().min(1).max(1_000_000).default(20).describe('open client connections allowed from one IP address, 1..1000000'),
    connection_rate_per_ip: z.number().min(0.01).max(100_000).default(5).describe('new connections per second allowed from one IP address (sustained), 0.01..100000'),
    connection_burst_per_ip: z.int().min(1).max(1_000_000).default(20).describe('new connections one IP address may open at once after a pause, 1..1000000'),
    max_connections: z.int().min(1).max(10_000_000).default(50_000).describe('open client connections in total, 1..10000000'),
    sessions_per_account: z.int().min(1).max(10_000).default(10).describe('bound sessions (resources) one account may have at once, 1..10000'),
    bytes_per_second: z.int().min(1024).max(1_073_741_824).default(262_144).describe('bytes per second one authenticated stream may send (sustained), 1024..1073741824'),
    bytes_burst: z.int().min(1024).max(1_073_741_824).default(1_048_576).describe('bytes an authenticated stream may send at once after a pause, 1024..1073741824'),
    stanzas_per_second: z.int().min(1).max(1_000_000).default(100).describe('stanzas per second one stream may send (sustained), 1..1000000'),
    stanzas_burst: z.int().min(1).max(1_000_000).default(500).describe('stanzas one stream may send at once after a pause, 1..1000000'),
    account_stanzas_per_second: z.int().min(1).max(1_000_000).default(200).describe('stanzas per second all streams of one account may send together (sustained), 1..1000000'),
    account_stanzas_burst: z.int().min(1).max(1_000_000).default(1000).describe('stanzas all streams of one account may send at once after a pause, 1..1000000'),
    account_bytes_per_second: z.int().min(1024).max(1_073_741_824).default(524_288).describe('bytes per second all streams of one account may send together (sustained), 1024..1073741824'),
    account_bytes_burst: z.int().min(1024).max(1_073_741_824).default(2_097_152).describe('bytes all streams of one account may send at once after a pause, 1024..1073741824'),
    unauthenticated_bytes_per_second: z.int().min(256).max(1_073_741_824).default(16_384).describe('bytes per second a stream may send before it is authenticated, 256..1073741824'),
    throttle_tolerance: z.int().min(1).max(3600).default(30).describe('seconds a stream may be held back by the rate limits without pause before it is closed (policy-violation), 1..3600'),
    idle_timeout: z.int().min(10).max(86_400).default(300).describe('seconds without data from a client before the server pings it, 10..86400'),
    ping_timeout: z.int().min(1).max(3600).default(60).describe('seconds a pinged idle client has to answer before it is disconnected, 1..3600'),
  })
  .prefault({})
  .describe('limits on what a peer may send; exceeding one closes the stream');
