import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../config/load.ts';
import { configError, issueAt } from '../../config/test-helpers.ts';
import { publicOrigin, websocketUrl } from './public-origin.ts';

const parse = (text: string) => parseConfigText(text, 'palisade.yaml', {});

describe('the public origin of the HTTPS listener', () => {
  it('defaults to https://<domain>:<bound port>', () => {
    assert.equal(websocketUrl(publicOrigin(null, 'chat.example.org', 5443), '/xmpp-websocket'), 'wss://chat.example.org:5443/xmpp-websocket');
    assert.equal(websocketUrl(publicOrigin(null, '[::1]', 5443), '/xmpp-websocket'), 'wss://[::1]:5443/xmpp-websocket');
    // An internationalised domain is announced in its DNS (A-label) form.
    assert.equal(publicOrigin(null, 'bücher.example', 5443).host, 'xn--bcher-kva.example:5443');
  });

  it('listeners.https.public_url replaces it; the default port 443 is not written', () => {
    assert.equal(websocketUrl(publicOrigin('https://chat.example.org', 'internal.lan', 5443), '/xmpp-websocket'), 'wss://chat.example.org/xmpp-websocket');
    assert.equal(websocketUrl(publicOrigin('https://chat.example.org:8443/', 'x', 1), '/xmpp-websocket'), 'wss://chat.example.org:8443/xmpp-websocket');
  });

  it('the configuration accepts only an https origin', () => {
    assert.equal(parse('listeners: {https: {public_url: "https://chat.example.org:8443"}}').listeners.https.public_url, 'https://chat.example.org:8443');
    assert.equal(parse('').listeners.https.public_url, null);
    for (const [value, message] of [
      ['chat.example.org', 'must be an absolute URL'],
      ['http://chat.example.org', 'must start with https://'],
      ['https://chat.example.org/xmpp', 'must be only https://host or https://host:port (no path, query or credentials)'],
      ['https://user:pw@chat.example.org', 'must be only https://host or https://host:port (no path, query or credentials)'],
      ['https://chat.example.org/?a=1', 'must be only https://host or https://host:port (no path, query or credentials)'],
    ] as const) {
      const err = configError(() => parse(`listeners: {https: {public_url: "${value}"}}`));
      const issue = issueAt(err, 'listeners.https.public_url');
      assert.ok(issue.message.startsWith(message), `${value}: ${issue.message}`);
    }
  });
});
