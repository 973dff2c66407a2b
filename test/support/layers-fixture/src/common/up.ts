import { cfg } from '../config/app-config';
import { thing } from '../auth/thing';

export const up = cfg + thing;
