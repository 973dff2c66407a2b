import { thing } from '../trino-query/thing';
// prettier-ignore
import {
  thing as session,
} from '../session/session-cookie';
import { thing as service } from '../session/session.service';
import type { cfg } from '../config/app-config';

export const side: Array<typeof cfg> = [thing, session, service];
