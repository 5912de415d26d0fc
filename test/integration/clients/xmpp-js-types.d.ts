// Just enough types for the parts of xmpp.js (@xmpp/client 0.14, shipped without
// declarations) that the client-library integration tests use.
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';

  export interface XmlElement {
    name: string;
    attrs: Record<string, string | undefined>;
    children: (XmlElement | string)[];
    is(name: string, ns?: string): boolean;
    getNS(): string;
    getChild(name: string, ns?: string): XmlElement | undefined;
    getChildren(name: string, ns?: string): XmlElement[];
    getChildElements(): XmlElement[];
    getChildText(name: string, ns?: string): string | null;
    text(): string;
    toString(): string;
  }

  export interface JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
  }

  export interface XmppClient extends EventEmitter {
    jid: JID | null;
    status: string;
    options: Record<string, unknown>;
    reconnect: { stop(): void };
    iqCaller: {
      get(payload: XmlElement, to?: string, timeout?: number): Promise<XmlElement>;
      request(iq: XmlElement, timeout?: number): Promise<XmlElement>;
    };
    start(): Promise<JID>;
    stop(): Promise<unknown>;
    send(element: XmlElement): Promise<void>;
    write(data: string): Promise<void>;
    isSecure(): boolean;
  }

  export interface ClientOptions {
    service?: string;
    domain?: string;
    username?: string;
    password?: string;
    resource?: string;
    timeout?: number;
  }

  export function client(options: ClientOptions): XmppClient;
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: (XmlElement | string)[]): XmlElement;
  export function jid(local: string, domain?: string, resource?: string): JID;
}

declare module '@xmpp/tls/lib/Socket.js' {
  export default class Socket {
    connect(options: import('node:tls').ConnectionOptions): void;
    _attachSocket(socket: import('node:tls').TLSSocket): void;
  }
}
