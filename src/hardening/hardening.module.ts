import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StateStore } from '../state/state-store';
import { StateThrottlerStorage } from './state-throttler.storage';
import { UserThrottlerGuard } from './user-throttler.guard';

/** A minute: the window of RATE_LIMIT_PER_MINUTE. */
const WINDOW_MS = 60_000;

/**
 * Abuse protection beyond what the adapter sets up (helmet, CORS, body limit in app.factory.ts):
 * per-user rate limits on the expensive routes (RATE_LIMIT_PER_MINUTE, 0 = off), counted in the
 * shared state (Valkey) so N replicas enforce one limit. Register after AuthModule: its guard
 * must run after authentication.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG, StateStore],
      useFactory: (config: AppConfig, state: StateStore) => ({
        throttlers: [{ name: 'default', ttl: WINDOW_MS, limit: config.rateLimit.perMinute }],
        storage: new StateThrottlerStorage(state),
        skipIf: () => config.rateLimit.perMinute === 0,
      }),
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: UserThrottlerGuard }],
})
export class HardeningModule {}
