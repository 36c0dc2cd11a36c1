/**
 * zod compiles object parsers with `new Function` when it may, and its probe for that is itself an eval,
 * which this page's Content-Security-Policy (script-src 'self', no 'unsafe-eval') refuses and reports as
 * a violation. Jitless, zod never tries: it parses the server's events without generated code.
 *
 * The probe runs when an object schema is built, which the protocol's modules do as they load: this
 * module is main.tsx's first import, so it runs before any of them.
 */
import { config } from 'zod';

config({ jitless: true });
