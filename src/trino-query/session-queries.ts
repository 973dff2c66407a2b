import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { Revocations, type Revocation } from '../auth/revocation.service';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { TokenExchangeService } from '../token-exchange/token-exchange.service';
import { QueryOwnership } from './query-ownership';
import { TrinoClient } from './trino.client';

/**
 * When an identity-provider session is logged out, its Trino queries end with it: each is unbound from
 * its owner (its nextUri, cancel and info are 404 from then on, on every replica) and cancelled at the
 * coordinator (DELETE /v1/query/{id}) as its owner: with TRINO_AUTH=exchange, with the session's exchanged
 * token while the cache still holds it (the cache purges it after this). Done once, by the replica that
 * received the logout. A query the coordinator could not be told about stops anyway when no client polls
 * it (Trino's query.client.timeout, 5 minutes by default).
 */
@Injectable()
export class SessionQueries implements OnModuleInit {
  private readonly log = new Logger('TrinoSessionQueries');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ownership: QueryOwnership,
    private readonly client: TrinoClient,
    private readonly revocations: Revocations,
    @Optional() private readonly tokenExchange?: TokenExchangeService,
  ) {}

  onModuleInit(): void {
    this.revocations.listen({ shared: (r) => this.endSession(r) });
  }

  private async endSession(r: Revocation): Promise<void> {
    if (r.sid === undefined || !this.config.trino.url) return;
    const queries = await this.ownership.releaseSession(r.issuer, r.sid);
    if (queries.length === 0) return;
    const exchangedToken =
      this.config.trino.auth === 'exchange' ? await this.tokenExchange?.cachedForSession(this.config.trino.audience, { issuer: r.issuer, sid: r.sid }) : undefined;
    let cancelled = 0;
    await Promise.all(
      queries.map(async ({ queryId, user }) => {
        try {
          const answer = await this.client.send({ method: 'DELETE', path: `/v1/query/${queryId}`, owner: { user, exchangedToken } });
          this.client.discard(answer);
          if (answer.status < 300) cancelled++;
        } catch {
          /* counted below as not cancelled */
        }
      }),
    );
    this.log.log({ event: 'trino.session_queries_cancelled', sid: r.sid, queries: queries.length, cancelled });
  }
}
