// Client libraries used by the tests that ship no type declarations.
declare module '@xmpp/client';
declare module '@xmpp/tls/lib/Socket.js';
