import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StateStore } from '../state/state-store';
import { StateThrottlerStorage } from './state-throttler.storage';
import { clientAddress, isLoginStart, isUserLimited, UserThrottlerGuard } from './user-throttler.guard';

/** A minute: the window of RATE_LIMIT_PER_MINUTE. */
const WINDOW_MS = 60_000;

/**
 * Abuse protection beyond what the adapter sets up (helmet, CORS, body limit in src/pipeline.ts):
 * per-user rate limits on the expensive routes (RATE_LIMIT_PER_MINUTE, 0 = off) and a per-address
 * limit on the public GET /auth/login (LOGIN_RATE_PER_MINUTE, 0 = off), counted in the shared state
 * (Valkey) so N replicas enforce one limit. Its guard runs after the AuthGuard (src/pipeline.ts, GLOBAL_GUARDS).
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG, StateStore],
      useFactory: (config: AppConfig, state: StateStore) => ({
        throttlers: [
          // Per user, on the expensive routes.
          { name: 'default', ttl: WINDOW_MS, limit: config.rateLimit.perMinute, skipIf: (ctx) => config.rateLimit.perMinute === 0 || !isUserLimited(ctx) },
          // Per client address, on the public GET /auth/login (each call stores a pending login).
          {
            name: 'login',
            ttl: WINDOW_MS,
            limit: config.session.login.ratePerMinute,
            skipIf: (ctx) => config.session.login.ratePerMinute === 0 || !isLoginStart(ctx),
            getTracker: (req) => clientAddress(req),
          },
        ],
        storage: new StateThrottlerStorage(state),
      }),
    }),
  ],
  providers: [UserThrottlerGuard],
  exports: [UserThrottlerGuard],
})
export class HardeningModule {}
