/**
 * The redaction boundary: everything an activity sends to Temporal leaves with every secret's
 * value (src/secrets/secrets.ts) replaced by `[redacted:NAME]`. It sits on the workers
 * themselves (src/worker/index.ts), so no activity, a new one included, can go around it:
 * - an activity inbound interceptor ({@link redactionInterceptor}) on every worker: the result,
 *   and a thrown error's message, stack, details and cause chain (redacted before the SDK logs
 *   "Activity failed"). First it learns the names the activity's input passes to processes (a
 *   mission's `env:`, an `agent.env`), so their values are secrets from then on;
 * - a payload codec ({@link RedactingCodec}) on the activity workers' data converter (the host
 *   and placement queues): every payload they send, heartbeat details included, which no
 *   interceptor sees. The SDK runs codecs on every payload it sends ("Temporal Server <--> Wire
 *   <--> PayloadCodec <--> PayloadConverter", @temporalio/common's PayloadCodec).
 * What workflows send (activity inputs, summaries, their results) is made of what activities
 * returned, already redacted, and of the mission file: the workflow worker gets no codec, so a
 * secret whose value is an ordinary word can never rewrite a command or a path a workflow sends.
 * Only JSON payloads are rewritten, strings only (object keys, numbers and structure stay), so a
 * payload decodes as before; decoding changes nothing (redaction is one-way).
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { learnSecretNames, namesListedIn, secretRedactor } from '../secrets/secrets';

const JSON_ENCODINGS = new Set(['json/plain', 'json/protobuf']);
const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/**
 * `payload` with every secret's value redacted from its JSON strings; the same object when there
 * was nothing to redact, or when it is not JSON (binary payloads: Flotilla sends none).
 */
export function redactPayload(payload: Payload, redactor = secretRedactor()): Payload {
  const encoding = payload.metadata?.encoding ? utf8.decode(payload.metadata.encoding) : '';
  if (!JSON_ENCODINGS.has(encoding) || !payload.data || redactor.empty) return payload;
  const text = utf8.decode(payload.data);
  if (!redactor.occursIn(text)) return payload;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON after all: the text itself, redacted (the replacement needs no JSON escaping).
    return { ...payload, data: encoder.encode(redactor.text(text)) };
  }
  const redacted = redactor.value(value);
  return redacted === value ? payload : { ...payload, data: encoder.encode(JSON.stringify(redacted)) };
}

/** The payload codec of the redaction boundary (see the file's comment). */
export class RedactingCodec implements PayloadCodec {
  async encode(payloads: Payload[]): Promise<Payload[]> {
    const redactor = secretRedactor();
    return redactor.empty ? payloads : payloads.map((p) => redactPayload(p, redactor));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  }
}

/** The interceptor of the redaction boundary (see the file's comment). */
export const redactionInterceptor: ActivityInterceptorsFactory = () => ({
  inbound: {
    async execute(input, next) {
      learnSecretNames(namesListedIn(input.args));
      try {
        return secretRedactor().value(await next(input));
      } catch (err) {
        throw secretRedactor().error(err);
      }
    },
  },
});
