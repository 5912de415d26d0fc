// Roster versioning (XEP-0237, RFC 6121 §2.6): what to answer a roster get
// that carries the version of the client's cached copy. Pure functions.
//
// Versions are decimal integers (the XEP's "strictly increasing sequence
// number"; RFC 6121 lets clients treat them as opaque strings). A roster that
// never changed has version 0 and is empty.

export type VersionPlan =
  /** Send every item (and the current version, if the client asked with one). */
  | { kind: 'full' }
  /** The client's copy is current: an empty result. */
  | { kind: 'unchanged' }
  /** The client's copy is known: send what changed after `since`, as pushes (or in full if that is smaller). */
  | { kind: 'since'; since: number };

/**
 * @param clientVer the 'ver' attribute of the get, if any
 * @param current the roster's version
 * @param floor every change after this version is known
 */
export function planFor(clientVer: string | undefined, current: number, floor: number): VersionPlan {
  if (clientVer === undefined) return { kind: 'full' };
  if (!/^(0|[1-9]\d{0,15})$/.test(clientVer)) return { kind: 'full' };
  const v = Number(clientVer);
  if (v === current) return { kind: 'unchanged' };
  if (current === 0 || v > current || v < floor) return { kind: 'full' };
  return { kind: 'since', since: v };
}

export interface Change<T> {
  /** The contact's bare JID. */
  jid: string;
  version: number;
  /** The item now, or undefined when it was removed. */
  item: T | undefined;
}

/**
 * The changes after `since`, oldest first: current items whose version is
 * newer, and removals (tombstones) newer than it. Undefined when sending the
 * full roster is smaller (XEP-0237 §2.4: more changes than items).
 */
export function changesSince<T extends { jid: string; version: number }>(
  items: Iterable<T>,
  tombstones: readonly { jid: string; version: number }[],
  since: number,
): Change<T>[] | undefined {
  const changes: Change<T>[] = [];
  let count = 0;
  for (const item of items) {
    count++;
    if (item.version > since) changes.push({ jid: item.jid, version: item.version, item });
  }
  for (const t of tombstones) if (t.version > since) changes.push({ jid: t.jid, version: t.version, item: undefined });
  if (changes.length > count) return undefined;
  return changes.sort((a, b) => a.version - b.version);
}
