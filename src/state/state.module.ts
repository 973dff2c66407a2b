import { Global, Module } from '@nestjs/common';
import { StateStore } from './state-store';

/** Shared state (Valkey or memory) for every module: agents, query owners, tickets, quotas, sessions. */
@Global()
@Module({ providers: [StateStore], exports: [StateStore] })
export class StateModule {}
