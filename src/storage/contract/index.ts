// The storage contract: one suite that every backend must pass.
import { describe } from 'node:test';
import { accountsContract } from './accounts.ts';
import { auditContract } from './audit.ts';
import { blockingContract } from './blocking.ts';
import type { ContractTarget } from './harness.ts';
import { lifecycleContract } from './lifecycle.ts';
import { mamContract } from './mam.ts';
import { mucContract } from './muc.ts';
import { offlineVcardPrivateContract } from './offline-vcard-private.ts';
import { pepContract } from './pep.ts';
import { rosterContract } from './roster.ts';

export type { ContractTarget } from './harness.ts';

export function storageContract(name: string, target: ContractTarget): void {
  describe(name, () => {
    describe('lifecycle', () => lifecycleContract(target));
    describe('accounts', () => accountsContract(target));
    describe('audit', () => auditContract(target));
    describe('blocking', () => blockingContract(target));
    describe('offline, vcard, private', () => offlineVcardPrivateContract(target));
    describe('roster and last activity', () => rosterContract(target));
    describe('pep', () => pepContract(target));
    describe('message archive', () => mamContract(target));
    describe('muc', () => mucContract(target));
  });
}
