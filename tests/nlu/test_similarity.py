"""Duplicates, the FAQ, and the static encoder read without torch."""

from __future__ import annotations

import numpy as np

from nlu.duplicates import OpenTicket, neighbours
from nlu.evaluate import evaluate_duplicates, evaluate_faq


def test_numpy_reading_gives_the_vectors_sentence_transformers_gives(nlu_model):
    from sentence_transformers import SentenceTransformer

    from nlu.encoder import encoder_input

    texts = ["Đèn đường hỏng", "den duong hong", "mất nước ba ngày"]
    ours = nlu_model.category.encoder.encode(texts)
    reference = SentenceTransformer(str(nlu_model.path / "encoder"), device="cpu")
    theirs = reference.encode([encoder_input(t) for t in texts], normalize_embeddings=True)
    assert np.allclose(ours, theirs, atol=1e-5)


def test_neighbours_include_the_ward_and_nearby_ones():
    around = neighbours()["26743"]  # Phường Bến Thành
    assert "26743" in around and "26740" in around  # Phường Sài Gòn is next door
    assert "27676" not in around  # Xã Thạnh An (Cần Giờ) is not


def test_a_duplicate_in_the_same_ward_is_flagged(nlu_model):
    open_tickets = [
        OpenTicket("PA00000001", "Mất nắp cống trước chợ Tân Định", "ha_tang_do_thi", "26734"),
        OpenTicket(
            "PA00000002",
            "Đèn đường trước số 45 Nguyễn Trãi tắt mấy hôm nay",
            "ha_tang_do_thi",
            "26743",
        ),
        OpenTicket("PA00000003", "Đèn đường trước số 45 Nguyễn Trãi tắt", "giao_thong", "26743"),
    ]
    found = nlu_model.find_duplicate(
        "den duong truoc so 45 nguyen trai bi hu may ngay roi",
        category="ha_tang_do_thi",
        ward_code="26743",
        open_tickets=open_tickets,
    )
    assert found is not None and found.code == "PA00000002"
    far = nlu_model.find_duplicate(
        "Đèn đường trước số 45 Nguyễn Trãi tắt mấy hôm nay",
        category="ha_tang_do_thi",
        ward_code="27676",  # Cần Giờ: not a neighbour of Bến Thành
        open_tickets=open_tickets,
    )
    assert far is None
    assert (
        nlu_model.find_duplicate("x", category=None, ward_code=None, open_tickets=open_tickets)
        is None
    )


def test_duplicate_threshold_is_tuned_on_the_pairs(nlu_model):
    report = evaluate_duplicates(nlu_model.duplicates)
    best = max(report.rows, key=lambda row: row[3])
    in_use = min(report.rows, key=lambda row: abs(row[0] - report.threshold))
    assert in_use[3] >= best[3] - 0.03, report.render()
    assert in_use[1] >= 0.65, report.render()  # precision of the flags


def test_faq_answers_known_questions_and_admits_the_rest(nlu_model):
    answer = nlu_model.answer("lam sao tra cuu phan anh da gui")
    assert answer is not None and answer.id == "tra_cuu_phan_anh"
    assert nlu_model.answer("giá vàng hôm nay bao nhiêu") is None
    assert nlu_model.answer("") is None
    report = evaluate_faq(nlu_model.faq_index())
    in_use = min(report.rows, key=lambda row: abs(row[0] - report.threshold))
    assert in_use[1] >= 0.7, report.render()  # answers given are mostly right


def test_a_report_classified_then_compared_is_vectorised_once(nlu_model, monkeypatch):
    model = nlu_model.category
    computed: list[list[str]] = []
    compute = model._compute_features

    def counting(texts):
        computed.append(list(texts))
        return compute(texts)

    monkeypatch.setattr(model, "_compute_features", counting)
    report = "Cống trước nhà số 12 Lê Lợi bị nghẹt, nước tràn lên đường (lần thứ 7)"
    open_tickets = [
        OpenTicket("PA00000009", "Cống trên đường Lê Lợi bị nghẹt", "ha_tang_do_thi", "26743")
    ]

    analysis = nlu_model.analyse(report)
    nlu_model.find_duplicate(
        report, category=analysis.category, ward_code="26743", open_tickets=open_tickets
    )

    assert [report] in computed  # classified
    assert sum(report in texts for texts in computed) == 1  # and not vectorised again


def test_kept_features_give_what_computing_them_gives(nlu_model):
    texts = [f"Rác ở hẻm {n} đường Trần Hưng Đạo chưa ai dọn, bốc mùi" for n in range(20)]
    together = nlu_model.category.probabilities(texts)  # a batch: computed, not kept
    one_by_one = np.vstack([nlu_model.category.probabilities([t]) for t in texts])
    again = np.vstack([nlu_model.category.probabilities([t]) for t in texts])  # now kept
    assert np.allclose(together, one_by_one) and np.array_equal(one_by_one, again)
