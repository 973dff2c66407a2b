/**
 * Every jest project (setupFiles): Nest's static Logger prints nothing unless an app installs its own.
 * Services built by hand in unit tests log through Nest's default ConsoleLogger, which writes straight
 * to the terminal between jest's results. Tests that check a log line spy on Logger.prototype (still
 * called); an app made by createApp installs its pino logger with app.useLogger, which replaces this.
 */
import { Logger } from '@nestjs/common';

Logger.overrideLogger(false);
