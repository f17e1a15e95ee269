#!/usr/bin/env python3
"""Microsoft Presidio's analyzer over a JSONL corpus ({"text": ...} per line).

Prints one JSON object: records_per_sec and, per record, the findings as
[entity_type, start, end] (offsets in code points, as Presidio counts them).
Called by `cargo bench -p pseudo --bench pii` when PRESIDIO_PYTHON is set
(see bench/pii.sh), so both tools see the same records in the same run.

Configuration: the fastest fair one for the entity types compared. They
are all found by Presidio's pattern recognisers (regex + validation +
context words), which need tokens but no statistical model, so the spaCy
pipeline is a blank English one: the en_core_web_* models only add NER
entities (PERSON, LOCATION, DATE_TIME) that the comparison does not score,
and cost most of Presidio's time. One process, one thread, like the Rust side.

PRESIDIO_SPACY_MODEL names another spaCy pipeline (a path or an installed
package), to measure Presidio as usually deployed, with a trained model.
"""
import json
import os
import sys
import tempfile
import time

import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    EsNieRecognizer,
    EsNifRecognizer,
    ItFiscalCodeRecognizer,
    UkNinoRecognizer,
)

# No network here: use the public suffix list bundled with tldextract
# instead of fetching it (the email recogniser validates domains with it).
tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())

ENTITIES = [
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "MAC_ADDRESS", "URL",
    "US_SSN", "UK_NINO", "ES_NIF", "ES_NIE", "IT_FISCAL_CODE", "CRYPTO",
]


def resolve(results):
    """Keeps the best of overlapping results (highest score, then longest),
    as Presidio's anonymizer does before replacing, and as residency does."""
    kept = []
    for r in sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)


def main() -> None:
    texts = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")]
    model_dir = os.environ.get("PRESIDIO_SPACY_MODEL")
    if not model_dir:
        model_dir = tempfile.mkdtemp()
        spacy.blank("en").to_disk(model_dir)
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model_dir}])
    nlp_engine.load()
    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=["en"])
    # Presidio registers these for Spanish, Italian or British English
    # pipelines; enable them for the English one so every shared type is compared.
    for rec in (EsNifRecognizer, EsNieRecognizer, ItFiscalCodeRecognizer, UkNinoRecognizer):
        analyzer.registry.add_recognizer(rec(supported_language="en"))
    supported = set(analyzer.get_supported_entities("en"))
    entities = [e for e in ENTITIES if e in supported]
    for t in texts[:20]:  # warm up
        analyzer.analyze(t, language="en", entities=entities)
    start = time.perf_counter()
    results = [analyzer.analyze(t, language="en", entities=entities) for t in texts]
    secs = time.perf_counter() - start
    json.dump(
        {
            "records_per_sec": len(texts) / secs,
            "entities": entities,
            "findings": [[[r.entity_type, r.start, r.end] for r in resolve(rs)] for rs in results],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
