"""A minimal subscriber of the enriched topic on librdkafka (confluent-kafka).

    python examples/subscribers/librdkafka_subscriber.py \
        --bootstrap localhost:9092 --topic kladana.documents.enriched --group my-team

The same contract as kafka_python_subscriber.py, on the C client that most non-Java Kafka
clients (Go, .NET, Node, Rust, PHP) are built on, so its settings carry over to them.
From a shell, kcat reads the same topic when its librdkafka is recent (Debian 12's 2.0.2
cannot talk to the embedded test broker):
``kcat -C -b localhost:9092 -G my-team kladana.documents.enriched``.
"""

import sys
import time

from confluent_kafka import Consumer, KafkaException
from event_schemas import EventSchemas, InvalidEvent, describe, subscriber_arguments


def main() -> int:
    args = subscriber_arguments(__doc__.split("\n\n")[0], "example-librdkafka")

    schemas = EventSchemas()
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # A stopped subscriber's partitions move to the others within seconds.
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
        }
    )
    consumer.subscribe([args.topic])
    seen = 0
    last_record_at = time.monotonic()
    try:
        while args.max_records is None or seen < args.max_records:
            message = consumer.poll(0.5)
            if message is None:
                if args.idle_timeout_s and time.monotonic() - last_record_at > args.idle_timeout_s:
                    break
                continue
            if message.error():
                raise KafkaException(message.error())
            last_record_at = time.monotonic()
            try:
                print("event", describe(schemas.parse(message.value())), flush=True)
            except InvalidEvent as error:
                print(f"invalid {message.partition()}/{message.offset()}: {error}", flush=True)
            consumer.commit(message=message, asynchronous=False)
            seen += 1
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
