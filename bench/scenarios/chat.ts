// What the chat scenarios (messages, websocket, latency) share: how a sender
// writes chat messages and how a receiver counts them.
import type { XmppConnection } from '../loadgen/connection.ts';

// A typical short chat line (~100 bytes of body).
const BODY = 'The bench sends this line to its partner, as a person would type a short chat message.  Thanks!';
const END_TAG = '</message>';

/**
 * send(n) writes n chat messages — in one write on TCP, one WebSocket message
 * each on a WebSocket — and remembers when each left, in order.
 */
export function chatSender(sender: XmppConnection, to: string): ((n: number) => void) & { inFlight: number[] } {
  const head = `<message${sender.stanzaXmlns} to='${to}' type='chat' id='m`;
  const tail = `'><body>${BODY}</body></message>`;
  let seq = 0;
  const inFlight: number[] = [];
  const send = sender.framed
    ? (n: number): void => {
        const now = performance.now();
        for (let k = 0; k < n; k++) {
          sender.send(head + seq++ + tail);
          inFlight.push(now);
        }
      }
    : (n: number): void => {
        const now = performance.now();
        let out = '';
        for (let k = 0; k < n; k++) {
          out += head + seq++ + tail;
          inFlight.push(now);
        }
        sender.send(out);
      };
  return Object.assign(send, { inFlight });
}

/** Counts closing message tags in a stream of text chunks, even when a tag is split across chunks. */
export function counter(onMessages: (n: number) => void): (text: string) => void {
  let carry = '';
  return (chunk) => {
    const text = carry + chunk;
    let n = 0;
    let end = 0;
    for (let i = text.indexOf(END_TAG); i !== -1; i = text.indexOf(END_TAG, end)) {
      n++;
      end = i + END_TAG.length;
    }
    carry = text.slice(Math.max(end, text.length - END_TAG.length + 1));
    if (n > 0) onMessages(n);
  };
}
