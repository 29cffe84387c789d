"""The model on the frozen sets written by people who never saw the training data.

Floors a little under what was measured (nlu/README.md, bench/results/nlu-sets.md), so that a
change which loses the gains on new writers fails here, not in a province's triage queue.
"""

from __future__ import annotations

from nlu import dataset
from nlu.evaluate import evaluate_categories


def test_new_writers_by_genre(nlu_model):
    examples = dataset.unseen_examples()
    assert len(examples) >= 350 and len({e.source for e in examples}) == 7
    report = evaluate_categories(nlu_model, examples, nlu_model.triage_threshold())
    assert report.macro_f1 >= 0.91, report.render()
    assert report.by_source["telex"][2] >= 0.88, report.render()  # read as meant, nlu/telex.py
    # The same messages typed without diacritics lose less than 0.03 (issue 14's goal).
    assert report.macro_f1 - report.macro_f1_diacritics_removed < 0.03, report.render()


def test_english_from_the_firms(nlu_model):
    report = evaluate_categories(
        nlu_model, dataset.english_test_examples(), nlu_model.triage_threshold()
    )
    assert report.macro_f1 >= 0.93, report.render()


def test_automatic_routing_is_right_97_percent_of_the_time_on_new_writers(nlu_model):
    """The threshold comes from writers held out in training; on other new writers it must
    still route at least 97% right while sending at most about a sixth to triage."""
    examples = dataset.unseen_examples()
    analyses = nlu_model.analyse_many([e.text for e in examples])
    routed = [
        (a.category == e.category)
        for a, e in zip(analyses, examples, strict=True)
        if nlu_model.routes(a)
    ]
    assert sum(routed) / len(routed) >= 0.97
    assert 1 - len(routed) / len(examples) <= 0.18


def test_short_phone_typed_messages_come_close_to_long_ones(nlu_model):
    """nlu/data/short: 3–12 word messages and long ones by the same writers (issue 14 wants
    short messages at least as good as long ones; measured: 0.982 against 1.000). Floors under
    what was measured, since retraining moves a few messages either way."""
    examples = dataset.short_test_examples()
    assert len(examples) >= 336
    report = evaluate_categories(nlu_model, examples, nlu_model.triage_threshold())
    short, long = report.by_length["short"], report.by_length["long"]
    assert short[0] >= 220 and long[0] >= 110, report.render()
    assert report.macro_f1 >= 0.95, report.render()
    assert short[2] >= 0.95, report.render()
    assert short[1] >= long[1] - 0.03, report.render()
    assert short[4] >= 0.97, report.render()  # the short ones routed automatically are right


def test_short_messages_do_as_well_as_long_ones_on_the_second_set(nlu_model):
    """nlu/data/lengths: 478 short and 252 long messages by three later writers, measured once
    after every decision: 0.985 against 0.980, and 99.8% of the short ones routed
    automatically right. Floors under that, since retraining moves a few messages."""
    examples = dataset.lengths_test_examples()
    assert len(examples) == 730
    report = evaluate_categories(nlu_model, examples, nlu_model.triage_threshold())
    short, long = report.by_length["short"], report.by_length["long"]
    assert (short[0], long[0]) == (478, 252), report.render()
    assert report.macro_f1 >= 0.96, report.render()
    assert short[1] >= long[1] - 0.01, report.render()
    assert short[4] >= 0.98, report.render()
    assert short[3] <= 0.10 * short[0], report.render()  # at most a tenth sent to triage
