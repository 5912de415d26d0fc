import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from './load.ts';
import { ConfigSchema } from './schema.ts';
import { domainProblem, prepareDomain } from './schema/domain.ts';
import { configError, issueAt } from './test-helpers.ts';

const parse = (text: string) => parseConfigText(text, 'palisade.yaml', {});
const fails = (text: string) => configError(() => parse(text));

const DEFAULTS = {
  domain: 'localhost',
  data_dir: './data',
  listeners: {
    c2s: { enabled: true, address: '0.0.0.0', port: 5222 },
    c2s_direct_tls: { enabled: true, address: '0.0.0.0', port: 5223 },
    https: { enabled: true, address: '0.0.0.0', port: 5443, public_url: null },
  },
  tls: { cert_file: null, key_file: null, min_version: 'TLSv1.2' },
  auth: {
    scram_hashes: ['SHA-1', 'SHA-256', 'SHA-512'],
    scram_iterations: 10000,
    channel_bindings: ['tls-exporter', 'tls-server-end-point'],
    channel_binding_downgrade: 'refuse',
    allow_plain: false,
    lockout_failures: 10,
    lockout_window: 900,
    lockout_duration: 900,
    failure_delay_max: 8,
    negotiation_timeout: 30,
    sasl2: true,
    fast: { enabled: true, token_lifetime_days: 14, max_clients_per_account: 50 },
  },
  storage: { backend: 'sqlite', sqlite_path: 'palisade.db', postgres_url: null },
  limits: {
    max_stanza_bytes: 262144,
    max_depth: 32,
    max_attributes: 64,
    max_attribute_bytes: 8192,
    max_name_bytes: 256,
    header_timeout: 10,
    connections_per_ip: 20,
    connection_rate_per_ip: 5,
    connection_burst_per_ip: 20,
    max_connections: 50000,
    sessions_per_account: 10,
    bytes_per_second: 262144,
    bytes_burst: 1048576,
    stanzas_per_second: 100,
    stanzas_burst: 500,
    account_stanzas_per_second: 200,
    account_stanzas_burst: 1000,
    account_bytes_per_second: 524288,
    account_bytes_burst: 2097152,
    unauthenticated_bytes_per_second: 16384,
    throttle_tolerance: 30,
    idle_timeout: 300,
    ping_timeout: 60,
  },
  logging: { level: 'info' },
  modules: { disco: {}, ping: {}, version: {}, roster: {}, presence: {}, message: {}, offline: {}, vcard: {}, private: {}, blocking: {}, 'last-activity': {}, mam: {}, carbons: {}, smacks: {}, csi: {}, pep: {}, bookmarks: {}, 'avatar-sync': {}, muc: {}, 'http-upload': {}, sessions: {}, usage: {} },
  policy: {
    file: null,
    reload_poll_ms: 1000,
    audit_checkpoint_every: 100,
    audit_syslog: { host: null, port: 6514, protocol: 'tls', facility: 'authpriv', app_name: 'palisade', queue_max: 10_000, ca_file: null },
  },
  registration: { invitations: true, password_min_length: 12, redeem_attempts_per_minute: 10 },
};

describe('defaults', () => {
  it('an empty file, a comment-only file and an empty mapping all give the documented defaults', () => {
    assert.deepEqual(parse(''), DEFAULTS);
    assert.deepEqual(parse('# nothing here\n'), DEFAULTS);
    assert.deepEqual(parse('{}'), DEFAULTS);
    assert.deepEqual(ConfigSchema.parse({}), DEFAULTS);
  });

  it('a partly written section keeps the defaults of the keys not written', () => {
    const config = parse('listeners:\n  c2s:\n    port: 15222\n');
    assert.deepEqual(config.listeners.c2s, { enabled: true, address: '0.0.0.0', port: 15222 });
    assert.deepEqual(config.listeners.https, DEFAULTS.listeners.https);
  });

  it('two parses do not share mutable default objects', () => {
    const a = parse('');
    a.modules['disco'] = { changed: true };
    a.auth.scram_hashes.pop();
    assert.deepEqual(parse('').modules['disco'], {});
    assert.equal(parse('').auth.scram_hashes.length, 3);
  });
});

describe('unknown keys', () => {
  it('at the top level, with a suggestion', () => {
    const err = fails('listener:\n  c2s: {}\n');
    assert.equal(issueAt(err, 'listener').hint, "did you mean 'listeners'?");
    assert.equal(err.message, "palisade.yaml: listener: unknown key; did you mean 'listeners'?");
  });

  it('nested, with a suggestion among the keys of that object', () => {
    const err = fails('limits:\n  max_stanza_byte: 5000\n');
    assert.equal(issueAt(err, 'limits.max_stanza_byte').hint, "did you mean 'max_stanza_bytes'?");
    const deep = fails('listeners:\n  c2s:\n    prot: 5222\n');
    assert.equal(issueAt(deep, 'listeners.c2s.prot').hint, "did you mean 'port'?");
  });

  it('camelCase and kebab-case spellings point to the snake_case key', () => {
    assert.equal(issueAt(fails('limits: {maxStanzaBytes: 5000}'), 'limits.maxStanzaBytes').hint, "did you mean 'max_stanza_bytes'?");
    assert.equal(issueAt(fails('auth: {allow-plain: true}'), 'auth.allow-plain').hint, "did you mean 'allow_plain'?");
  });

  it('without a close match, lists the known keys', () => {
    const issue = issueAt(fails('logging:\n  format: json\n'), 'logging.format');
    assert.equal(issue.message, 'unknown key');
    assert.equal(issue.hint, 'known keys: level');
  });

  it('every unknown key gets its own line', () => {
    const err = fails('tls: {a: 1, b: 2}\nzzz: 3\n');
    assert.deepEqual(err.issues.map((i) => i.path).sort(), ['tls.a', 'tls.b', 'zzz']);
    assert.equal(err.message.split('\n').length, 3);
  });
});

describe('types', () => {
  it('a quoted port is refused, not coerced', () => {
    const issue = issueAt(fails('listeners:\n  c2s:\n    port: "5222"\n'), 'listeners.c2s.port');
    assert.equal(issue.message, 'expected an integer (got the string "5222")');
    assert.equal(issue.hint, 'write numbers without quotes');
  });

  it('a fractional number where an integer is expected', () => {
    assert.equal(issueAt(fails('limits: {max_depth: 3.5}'), 'limits.max_depth').message, 'expected an integer (got the number 3.5)');
  });

  it('a YAML 1.1 style boolean is a string, and refused', () => {
    const issue = issueAt(fails('auth:\n  allow_plain: yes\n'), 'auth.allow_plain');
    assert.equal(issue.message, 'expected true or false (got the string "yes")');
  });

  it('a nullable key says null is allowed', () => {
    assert.equal(issueAt(fails('tls: {cert_file: 5}'), 'tls.cert_file').message, 'expected a string or null (got the number 5)');
  });

  it('a section left empty (null) is refused with a hint', () => {
    const issue = issueAt(fails('logging:\n'), 'logging');
    assert.equal(issue.message, 'expected a mapping (got null)');
    assert.match(issue.hint ?? '', /remove it to use the defaults/);
  });

  it('a document that is not a mapping', () => {
    assert.equal(issueAt(fails('- a\n- b\n'), '').message, 'expected a mapping (got a list)');
  });

  it('infinity is not a number of seconds', () => {
    assert.match(issueAt(fails('limits: {header_timeout: .inf}'), 'limits.header_timeout').message, /^expected an integer \(got Infinity\)$/);
  });
});

describe('ranges', () => {
  it('a port above 65535', () => {
    const err = fails('listeners:\n  c2s:\n    port: 70000\n');
    assert.equal(err.message, 'palisade.yaml: listeners.c2s.port: must be at most 65535 (got 70000)');
  });

  it('a negative port', () => {
    assert.equal(issueAt(fails('listeners: {https: {port: -1}}'), 'listeners.https.port').message, 'must be at least 0 (got -1)');
  });

  it('port 0 (any free port) is allowed, on every listener at once', () => {
    const config = parse('listeners: {c2s: {port: 0}, c2s_direct_tls: {port: 0}, https: {port: 0}}');
    assert.equal(config.listeners.c2s.port, 0);
  });

  it('each limit has its range, inclusive at both ends', () => {
    const cases: [string, number, number][] = [
      ['max_stanza_bytes', 1024, 16777216],
      ['max_depth', 4, 256],
      ['max_attributes', 4, 1024],
      ['max_attribute_bytes', 64, 1048576],
      ['max_name_bytes', 16, 4096],
      ['header_timeout', 1, 300],
    ];
    for (const [key, min, max] of cases) {
      assert.equal(parse(`limits: {${key}: ${min}}`).limits[key as 'max_depth'], min);
      assert.equal(parse(`limits: {${key}: ${max}}`).limits[key as 'max_depth'], max);
      assert.equal(issueAt(fails(`limits: {${key}: ${min - 1}}`), `limits.${key}`).message, `must be at least ${min} (got ${min - 1})`);
      assert.equal(issueAt(fails(`limits: {${key}: ${max + 1}}`), `limits.${key}`).message, `must be at most ${max} (got ${max + 1})`);
    }
  });

  it('auth ranges', () => {
    assert.equal(issueAt(fails('auth: {scram_iterations: 4095}'), 'auth.scram_iterations').message, 'must be at least 4096 (got 4095)');
    assert.equal(issueAt(fails('auth: {scram_iterations: 10000001}'), 'auth.scram_iterations').message, 'must be at most 10000000 (got 10000001)');
    assert.equal(issueAt(fails('auth: {negotiation_timeout: 0}'), 'auth.negotiation_timeout').message, 'must be at least 1 (got 0)');
    assert.equal(issueAt(fails('auth: {negotiation_timeout: 601}'), 'auth.negotiation_timeout').message, 'must be at most 600 (got 601)');
  });
});

describe('enums and lists', () => {
  it('a bad enum lists the allowed values and suggests the nearest', () => {
    const issue = issueAt(fails('tls:\n  min_version: TLSv1.1\n'), 'tls.min_version');
    assert.equal(issue.message, "must be one of 'TLSv1.2', 'TLSv1.3' (got \"TLSv1.1\")");
    assert.equal(issue.hint, "did you mean 'TLSv1.2'?");
    assert.equal(
      issueAt(fails('logging: {level: verbose}'), 'logging.level').message,
      "must be one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent' (got \"verbose\")",
    );
    assert.match(issueAt(fails('storage: {backend: mysql}'), 'storage.backend').message, /^must be one of 'sqlite', 'postgres'/);
  });

  it('a bad list entry is located by its index', () => {
    assert.match(issueAt(fails('auth: {scram_hashes: [SHA-256, MD5]}'), 'auth.scram_hashes[1]').message, /^must be one of 'SHA-1', 'SHA-256', 'SHA-512'/);
  });

  it('scram_hashes must be non-empty and unique; channel_bindings may be empty but unique', () => {
    assert.equal(issueAt(fails('auth: {scram_hashes: []}'), 'auth.scram_hashes').message, 'must not be empty');
    assert.equal(issueAt(fails('auth: {scram_hashes: [SHA-256, SHA-256]}'), 'auth.scram_hashes[1]').message, "'SHA-256' is listed twice");
    assert.deepEqual(parse('auth: {channel_bindings: []}').auth.channel_bindings, []);
    assert.ok(issueAt(fails('auth: {channel_bindings: [tls-exporter, tls-exporter]}'), 'auth.channel_bindings[1]'));
    assert.ok(issueAt(fails('auth: {channel_bindings: [tls-unique]}'), 'auth.channel_bindings[0]'));
  });
});

describe('cross-field rules', () => {
  it('postgres backend without a URL', () => {
    const issue = issueAt(fails('storage:\n  backend: postgres\n'), 'storage.postgres_url');
    assert.equal(issue.message, "is required when storage.backend is 'postgres'");
    assert.match(issue.hint ?? '', /PALISADE_POSTGRES_URL/);
  });

  it('postgres backend with a URL', () => {
    const config = parse('storage:\n  backend: postgres\n  postgres_url: postgres://palisade@db.internal/palisade\n');
    assert.equal(config.storage.postgres_url, 'postgres://palisade@db.internal/palisade');
  });

  it('a postgres URL of another scheme is refused without echoing it (it holds a password)', () => {
    const err = fails('storage: {postgres_url: "mysql://root:hunter2@db/x"}');
    assert.equal(issueAt(err, 'storage.postgres_url').message, 'must be a postgres:// or postgresql:// URL (got a string)');
    assert.doesNotMatch(err.message, /hunter2/);
    assert.doesNotMatch(configError(() => parse('storage: {postgres_url: 42}')).message, /42/);
  });

  it('cert_file without key_file (and the reverse)', () => {
    assert.equal(issueAt(fails('tls: {cert_file: cert.pem}'), 'tls.key_file').message, 'cert_file and key_file must be set together');
    assert.ok(issueAt(fails('tls: {key_file: key.pem}'), 'tls.cert_file'));
    assert.equal(parse('tls: {cert_file: cert.pem, key_file: key.pem}').tls.cert_file, 'cert.pem');
  });

  it('two enabled listeners on one port', () => {
    assert.equal(issueAt(fails('listeners: {https: {port: 5222}}'), 'listeners.https.port').message, 'port 5222 is also used by listeners.c2s');
    // Different specific addresses, or a disabled listener, do not clash.
    parse('listeners: {c2s: {address: 127.0.0.1}, https: {address: 127.0.0.2, port: 5222}}');
    parse('listeners: {c2s: {enabled: false}, https: {port: 5222}}');
  });
});

describe('addresses and paths', () => {
  it('a listener address is an IP literal or localhost', () => {
    assert.equal(parse('listeners: {c2s: {address: "::"}}').listeners.c2s.address, '::');
    assert.equal(parse('listeners: {c2s: {address: localhost}}').listeners.c2s.address, 'localhost');
    assert.equal(issueAt(fails('listeners: {c2s: {address: example.org}}'), 'listeners.c2s.address').message, 'must be an IP address or \'localhost\' (got "example.org")');
  });

  it('~ is not expanded, so it is refused', () => {
    assert.match(issueAt(fails('data_dir: ~/palisade'), 'data_dir').message, /'~' is not expanded/);
  });

  it('an empty data_dir is refused', () => {
    assert.equal(issueAt(fails('data_dir: ""'), 'data_dir').message, 'must not be empty (got "")');
  });
});

describe('domain', () => {
  it('is prepared like a JID domainpart', () => {
    assert.equal(parse('domain: Chat.Example.ORG.').domain, 'chat.example.org');
    assert.equal(prepareDomain('ÉCOLE.example'), 'école.example');
    assert.equal(parse('domain: "[::1]"').domain, '[::1]');
    assert.equal(parse('domain: 192.0.2.1').domain, '192.0.2.1');
    assert.equal(parse('domain: bücher.example').domain, 'bücher.example');
  });

  it('refuses what is not a hostname or IP literal', () => {
    for (const bad of ['foo..bar', '-foo.example', 'foo_bar.example', 'a b', '::1', '[nope]', '1.2.3', '""']) {
      assert.ok(issueAt(fails(`domain: ${bad}`), 'domain'), bad);
    }
    assert.equal(domainProblem('a'.repeat(64) + '.example'), `label '${'a'.repeat(64)}' must be 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen`);
  });

  it('is at most 1023 bytes', () => {
    const long = Array.from({ length: 128 }, () => 'é'.repeat(4)).join('.');
    assert.ok(Buffer.byteLength(long) > 1023);
    assert.equal(domainProblem(long), 'must be at most 1023 bytes');
  });
});

describe('modules', () => {
  it('maps kebab-case ids to an options object or null', () => {
    const config = parse('modules:\n  disco:\n  http-upload: {max_size: 10}\n');
    assert.deepEqual(config.modules, { disco: null, 'http-upload': { max_size: 10 } });
  });

  it('writing the map replaces the default list', () => {
    assert.deepEqual(parse('modules: {}').modules, {});
  });

  it('refuses ids that are not kebab-case and options that are not mappings', () => {
    const err = fails('modules:\n  httpUpload: {}\n  ping: 3\n  disco: [a]\n');
    assert.match(issueAt(err, 'modules.httpUpload').message, /kebab-case/);
    assert.equal(issueAt(err, 'modules.ping').message, 'expected a mapping or null (got the number 3)');
    assert.equal(issueAt(err, 'modules.disco').message, 'expected a mapping or null (got a list)');
  });
});
