"""Runs one slixmpp client for a test script: connects with STARTTLS to the
test server named in the environment (XMPP_JID, XMPP_PASSWORD, XMPP_CA,
XMPP_HOST, XMPP_PORT), waits until the client's `done` future is set or
XMPP_TIMEOUT seconds pass, prints the client's `result` as one JSON line and
disconnects. SLIX_DEBUG=1 logs slixmpp's traffic to stderr."""
import asyncio
import json
import logging
from os import environ as env


async def _main(make_client, default_timeout):
    if env.get('SLIX_DEBUG') == '1':
        logging.basicConfig(level=logging.DEBUG)
    client = make_client(env['XMPP_JID'], env['XMPP_PASSWORD'])
    client.ca_certs = env['XMPP_CA']
    client.connect((env['XMPP_HOST'], int(env['XMPP_PORT'])), use_ssl=False, force_starttls=True)
    try:
        await asyncio.wait_for(client.done, float(env.get('XMPP_TIMEOUT', str(default_timeout))))
    except asyncio.TimeoutError:
        client.result['error'] = client.result['error'] or 'timeout'
    print(json.dumps(client.result), flush=True)
    client.disconnect(wait=1.0)
    try:
        await asyncio.wait_for(client.disconnected, 2)
    except Exception:
        pass


def run(make_client, default_timeout):
    asyncio.run(_main(make_client, default_timeout))
