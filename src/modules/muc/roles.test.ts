// The permission tables of XEP-0045 §5, §8-§10, read row by row: who may kick,
// silence, promote, ban and change affiliations, and what each refusal is.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  affiliationChangeRefusal,
  defaultRole,
  listRefusal,
  mayChangeSubject,
  mayConfigure,
  maySendPrivate,
  maySpeak,
  roleChangeRefusal,
  type Actor,
  type Affiliation,
  type Role,
} from './roles.ts';

const verdict = (r: ReturnType<typeof roleChangeRefusal>) => r?.condition ?? 'ok';
const as = (affiliation: Affiliation, role: Role): Actor => ({ affiliation, role });

describe('muc roles and affiliations', () => {
  test('default roles by affiliation (§5.1.2)', () => {
    assert.deepEqual(
      (['owner', 'admin', 'member', 'none', 'outcast'] as const).map((a) => [defaultRole(a, false), defaultRole(a, true)]),
      [
        ['moderator', 'moderator'],
        ['moderator', 'moderator'],
        ['participant', 'participant'],
        ['participant', 'visitor'],
        ['none', 'none'],
      ],
    );
  });

  test('role changes: actor × target × new role', () => {
    const owner = as('owner', 'moderator');
    const admin = as('admin', 'moderator');
    const mod = as('none', 'moderator'); // a moderator by grant, not by affiliation
    const member = as('member', 'participant');
    const participant = as('none', 'participant');
    const visitor = as('none', 'visitor');
    const rows: [Actor, Actor, Role, string][] = [
      [owner, participant, 'none', 'ok'], // kick
      [mod, participant, 'none', 'ok'],
      [mod, member, 'none', 'ok'],
      [member, participant, 'none', 'forbidden'], // a member is no moderator
      [participant, visitor, 'participant', 'forbidden'],
      [mod, admin, 'none', 'forbidden'], // kicking a moderator-admin means revoking moderator: admins only
      [owner, admin, 'none', 'not-allowed'], // admins and owners are not kicked
      [admin, owner, 'visitor', 'not-allowed'],
      [mod, visitor, 'participant', 'ok'], // voice
      [mod, participant, 'visitor', 'ok'],
      [mod, member, 'visitor', 'not-allowed'], // at or above the moderator's own affiliation
      [admin, member, 'visitor', 'ok'],
      [mod, participant, 'moderator', 'forbidden'], // moderator status: admins and owners only
      [admin, participant, 'moderator', 'ok'],
      [admin, mod, 'participant', 'ok'],
      [owner, admin, 'participant', 'not-allowed'],
    ];
    for (const [actor, target, role, expected] of rows) {
      assert.equal(verdict(roleChangeRefusal(actor, target, role)), expected, `${JSON.stringify(actor)} sets ${JSON.stringify(target)} to ${role}`);
    }
  });

  test('affiliation changes: actor × from × to', () => {
    const rows: [Affiliation, Affiliation, Affiliation, string][] = [
      ['owner', 'none', 'owner', 'ok'],
      ['owner', 'admin', 'outcast', 'ok'],
      ['owner', 'owner', 'none', 'ok'], // the last-owner rule is the room's (conflict), not this table's
      ['admin', 'none', 'member', 'ok'],
      ['admin', 'member', 'outcast', 'ok'],
      ['admin', 'outcast', 'none', 'ok'],
      ['admin', 'none', 'admin', 'forbidden'],
      ['admin', 'member', 'owner', 'forbidden'],
      ['admin', 'admin', 'outcast', 'not-allowed'],
      ['admin', 'owner', 'member', 'not-allowed'],
      ['member', 'none', 'member', 'forbidden'],
      ['member', 'none', 'outcast', 'forbidden'],
      ['none', 'member', 'none', 'forbidden'],
    ];
    for (const [actor, from, to, expected] of rows) {
      assert.equal(affiliationChangeRefusal(actor, from, to)?.condition ?? 'ok', expected, `${actor}: ${from} -> ${to}`);
    }
    assert.match(affiliationChangeRefusal('member', 'none', 'member')!.text, /Only admins and owners/);
  });

  test('lists, configuration, speaking, subject, private messages', () => {
    assert.equal(listRefusal(as('admin', 'moderator'), { affiliation: 'member' }), undefined);
    assert.equal(listRefusal(as('admin', 'moderator'), { affiliation: 'owner' })?.condition, 'forbidden');
    assert.equal(listRefusal(as('member', 'participant'), { affiliation: 'outcast' })?.condition, 'forbidden');
    assert.equal(listRefusal(as('none', 'moderator'), { role: 'participant' }), undefined);
    assert.equal(listRefusal(as('member', 'participant'), { role: 'moderator' })?.condition, 'forbidden');
    assert.deepEqual((['owner', 'admin', 'member', 'none'] as const).map(mayConfigure), [true, false, false, false]);
    assert.deepEqual(
      (['moderator', 'participant', 'visitor'] as const).map((r) => [maySpeak(r, false), maySpeak(r, true)]),
      [
        [true, true],
        [true, true],
        [true, false],
      ],
    );
    assert.deepEqual(
      (['moderator', 'participant', 'visitor'] as const).map((r) => [mayChangeSubject(r, false), mayChangeSubject(r, true)]),
      [
        [true, true],
        [false, true],
        [false, false],
      ],
    );
    assert.deepEqual(
      (['anyone', 'participants', 'moderators', 'none'] as const).map((pm) =>
        (['moderator', 'participant', 'visitor'] as const).map((r) => maySendPrivate(r, pm)),
      ),
      [
        [true, true, true],
        [true, true, false],
        [true, false, false],
        [false, false, false],
      ],
    );
  });
});
