import { Global, Module } from '@nestjs/common';
import { StateStore } from './state-store';
import { ValkeyClient } from './valkey-client';

/**
 * Shared state (Valkey or memory) for every module: agents, query owners, tickets, quotas, sessions; and
 * the one Valkey connection (ValkeyClient) that the StateStore and the exchanged-token cache both use.
 */
@Global()
@Module({ providers: [ValkeyClient, StateStore], exports: [ValkeyClient, StateStore] })
export class StateModule {}
