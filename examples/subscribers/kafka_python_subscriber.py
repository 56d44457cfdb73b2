"""A minimal subscriber of the enriched topic on kafka-python.

    python examples/subscribers/kafka_python_subscriber.py \
        --bootstrap localhost:9092 --topic kladana.documents.enriched --group my-team

Prints one line per valid event and one per record that does not validate (a subscriber
should park those, not crash). Commits offsets after printing: at least once, so it may
print an event again after a restart; de-duplicate on the event's ``source`` + ``id``.
"""

import sys

from event_schemas import EventSchemas, InvalidEvent, describe, subscriber_arguments
from kafka import KafkaConsumer


def main() -> int:
    args = subscriber_arguments(__doc__.split("\n\n")[0], "example-kafka-python")

    schemas = EventSchemas()
    idle = {"consumer_timeout_ms": args.idle_timeout_s * 1000} if args.idle_timeout_s else {}
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # A stopped subscriber's partitions move to the others within seconds.
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        **idle,
    )
    seen = 0
    try:
        for record in consumer:  # ends after the idle timeout, if one is set
            try:
                print("event", describe(schemas.parse(record.value)), flush=True)
            except InvalidEvent as error:
                print(f"invalid {record.partition}/{record.offset}: {error}", flush=True)
            consumer.commit()
            seen += 1
            if args.max_records is not None and seen >= args.max_records:
                break
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
