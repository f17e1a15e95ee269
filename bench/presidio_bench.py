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
from presidio_analyzer import PatternRecognizer, predefined_recognizers

# No network here: use the public suffix list bundled with tldextract
# instead of fetching it (the email recogniser validates domains with it).
tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())

# The entity types both tools report: residency's list comes on the command
# line (argv[2], comma-separated), so that every type it has is enabled here.


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
    # Presidio registers its country recognisers for their own languages
    # (or not by default); enable every predefined pattern recogniser for the
    # English pipeline, so that all the types residency has are looked for.
    present = {type(r) for r in analyzer.registry.recognizers}
    for name in dir(predefined_recognizers):
        cls = getattr(predefined_recognizers, name)
        if isinstance(cls, type) and issubclass(cls, PatternRecognizer) and cls is not PatternRecognizer and cls not in present:
            try:
                analyzer.registry.add_recognizer(cls(supported_language="en"))
            except TypeError:
                pass
    supported = set(analyzer.get_supported_entities("en"))
    ours = sys.argv[2].split(",") if len(sys.argv) > 2 else sorted(supported)
    entities = [e for e in ours if e in supported]
    for t in texts[:20]:  # warm up
        analyzer.analyze(t, language="en", entities=entities)
    # The median of three passes, as on the Rust side (the machine's speed
    # varies from run to run; Presidio keeps no state between texts).
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        results = [analyzer.analyze(t, language="en", entities=entities) for t in texts]
        runs.append(len(texts) / (time.perf_counter() - start))
    json.dump(
        {
            "records_per_sec": sorted(runs)[1],
            "runs": runs,
            "entities": entities,
            "findings": [[[r.entity_type, r.start, r.end] for r in resolve(rs)] for rs in results],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
