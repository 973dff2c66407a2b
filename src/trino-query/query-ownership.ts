import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { sessionOf } from '../auth/revocation.service';
import { problem } from '../common/problem';
import { StateStore } from '../state/state-store';

/** How long a submitted query stays bound to its owner (beyond any query Trino keeps: 15 min after it ends). */
export const QUERY_OWNERSHIP_TTL_MS = 24 * 60 * 60 * 1000;

/** A Trino query id as the protocol paths carry it (e.g. 20250101_120000_00001_abcde). */
export const QUERY_ID = /^[A-Za-z0-9_]{1,128}$/;

interface QueryOwner {
  iss: string;
  sub: string;
  user: string;
}

const keyOf = (queryId: string) => `trino:query-owner:${queryId}`;
/** The queries submitted with the tokens of one identity-provider session (issuer, sid): cancelled when it is logged out. */
const sessionKeyOf = (issuer: string, sid: string) => `trino:session-queries:${createHash('sha256').update(`${issuer}\n${sid}`).digest('hex')}`;

/** A query of a logged-out session: its id and the Trino user it runs as. */
export interface SessionQuery {
  queryId: string;
  user: string;
}

/**
 * Who submitted which Trino query, in the shared state (Valkey when configured, so every replica
 * agrees). Bound when POST /v1/statement answers, before the client sees the query's nextUri;
 * checked before anything about the query (next page, cancel, query info) is asked of Trino.
 * The owner is the token's issuer and subject, not a name a client could also claim.
 */
@Injectable()
export class QueryOwnership {
  constructor(private readonly state: StateStore) {}

  async bind(queryId: string, principal: Principal, user: string): Promise<void> {
    const owner: QueryOwner = { iss: principal.issuer, sub: principal.subject, user };
    await this.state.setJson(keyOf(queryId), owner, QUERY_OWNERSHIP_TTL_MS);
    const sid = sessionOf(principal);
    if (sid !== undefined) await this.state.sAdd(sessionKeyOf(principal.issuer, sid), queryId, QUERY_OWNERSHIP_TTL_MS);
  }

  /**
   * Unbinds every query of a logged-out session and returns them: from then on their nextUri, cancel and
   * query info are 404 for everyone, as for a query that does not exist.
   */
  async releaseSession(issuer: string, sid: string): Promise<SessionQuery[]> {
    const key = sessionKeyOf(issuer, sid);
    const ids = await this.state.sMembers(key);
    const out: SessionQuery[] = [];
    for (const queryId of ids) {
      const owner = QUERY_ID.test(queryId) ? await this.state.takeJson<QueryOwner>(keyOf(queryId)) : undefined;
      if (owner) out.push({ queryId, user: owner.user });
    }
    await this.state.del(key);
    return out;
  }

  /** Passes when the principal submitted the query; otherwise a 404, exactly as for a query that does not exist. */
  async assertOwner(queryId: string, principal: Principal): Promise<void> {
    const owner = QUERY_ID.test(queryId) ? await this.state.getJson<QueryOwner>(keyOf(queryId)) : undefined;
    if (!owner || owner.iss !== principal.issuer || owner.sub !== principal.subject) {
      throw problem.notFound('No such query');
    }
  }
}
