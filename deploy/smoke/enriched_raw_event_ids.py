"""Prints the raw event id behind every enriched document on the enriched topic, one a line:
ingest answers each webhook with its raw event's id, so the smoke run can tell that every
webhook it sent was enriched (a document Kladana does not have is "unavailable" instead).

Run by the compose smoke run inside one of the stack's containers (the stand-in broker
advertises kafka:9092, a name only the stack's network knows), with that container's
KAFKA_BOOTSTRAP_SERVERS and ENRICHED_TOPIC:
    docker-compose exec -T notifier python -c "$(cat deploy/smoke/enriched_raw_event_ids.py)"
"""

import os

from shared.events import ENRICHED_DOCUMENT, event_data, from_record
from shared.topic_reader import read_topic

records = read_topic(os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["ENRICHED_TOPIC"])
events = [from_record(read.record) for read in records]
for event in events:
    if event.get_type() == ENRICHED_DOCUMENT.type:
        print(event_data(event, ENRICHED_DOCUMENT)["raw_event_id"])
