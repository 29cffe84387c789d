"""The trained model: held-out quality, odd input, and the CLI around it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.settings import get_settings
from nlu import dataset
from nlu.category import ngram_input, ngram_rows
from nlu.evaluate import evaluate_categories


def test_held_out_macro_f1_meets_the_target(nlu_model):
    report = evaluate_categories(nlu_model, dataset.test_examples(), threshold=0.6)
    assert report.examples >= 30 * 14
    assert report.macro_f1 >= 0.90, report.render()
    assert report.macro_f1_without_diacritics >= 0.88, report.render()
    assert report.macro_f1 - report.macro_f1_diacritics_removed < 0.03, report.render()
    assert report.calibration_error <= 0.08, report.render()  # temperature-scaled


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Đèn đường trước nhà số 12 tắt ba đêm rồi", "ha_tang_do_thi"),
        ("den giao thong nga tu hong, xe chay lung tung", "giao_thong"),
        ("karaoke hàng xóm hát tới 1h sáng", "an_ninh_trat_tu"),
        ("xưởng gỗ chạy máy ầm ầm cả đêm, bụi mù mịt", "moi_truong"),
        ("CÔNG TY NỢ LƯƠNG 3 THÁNG KHÔNG TRẢ", "lao_dong_an_sinh"),
    ],
)
def test_clear_messages(nlu_model, text, category):
    assert nlu_model.analyse(text).category == category


@pytest.mark.parametrize(
    "text",
    [
        "",
        "    ",
        "😀😡👍",
        "\x00\x01\x02\x1f",
        "Привет, как дела? 你好吗",
        "asdf qwerty zxcv",
    ],
)
def test_odd_input_is_khac_at_low_confidence(nlu_model, text):
    analysis = nlu_model.analyse(text)
    assert analysis.category == "khac"
    assert analysis.category_confidence < 0.2
    assert analysis.ward is None


@pytest.mark.parametrize(
    ("text", "category"),
    [
        (
            "The street light in front of my house has been broken for a week, please fix it.",
            "ha_tang_do_thi",
        ),
        (
            "Our company in VSIP 1 has not received the investment certificate amendment after "
            "two months",
            "doanh_nghiep_dau_tu",
        ),
        ("Factory next to us burns plastic every night, the smoke is terrible", "moi_truong"),
        ("The company closed and still owes 200 workers three months salary", "lao_dong_an_sinh"),
    ],
)
def test_english_messages_get_a_category(nlu_model, text, category):
    assert nlu_model.analyse(text).category == category


def test_the_ngram_rows_are_sklearns(nlu_model):
    union = nlu_model.category.ngram.steps[0][1]
    texts = [e.text for e in dataset.unseen_examples()[:120]] + ["", "😀", "ô", "x" * 3000]
    inputs = [ngram_input(t) for t in texts]

    ours, sklearns = ngram_rows(union, inputs), union.transform(inputs)

    assert ours.shape == sklearns.shape
    assert abs(ours - sklearns).max() < 1e-12
    one = ngram_rows(union, inputs[:1])
    assert abs(one - union.transform(inputs[:1])).max() < 1e-12


def test_the_triage_threshold_comes_from_the_target_precision(nlu_model, monkeypatch):
    model = nlu_model.category
    assert model.held_out, "training holds out the later writers to choose the threshold"
    strict, lenient = model.threshold_for_precision(0.99), model.threshold_for_precision(0.90)
    assert 0 < lenient <= strict <= 1
    monkeypatch.setattr(get_settings(), "triage_threshold", None)
    monkeypatch.setattr(get_settings(), "triage_precision", 0.99)
    assert nlu_model.triage_threshold() == strict
    monkeypatch.setattr(get_settings(), "triage_threshold", 0.5)  # the operator's choice wins
    assert nlu_model.triage_threshold() == 0.5


def test_a_threshold_for_precision_on_a_known_curve():
    from nlu.category import CategoryModel

    pairs = [(0.99, True), (0.95, True), (0.9, False), (0.8, True), (0.6, False), (0.5, True)]
    model = CategoryModel(
        labels=["a"], ngram=None, head=None, encoder=None, encoder_weight=0, held_out=pairs
    )
    assert model.threshold_for_precision(1.0) == 0.95  # the top two are right
    assert model.threshold_for_precision(0.75) == 0.8  # 3 of the top 4
    assert model.threshold_for_precision(0.6) == 0.5  # 4 of 6
    no_data = CategoryModel(labels=["a"], ngram=None, head=None, encoder=None, encoder_weight=0)
    assert no_data.threshold_for_precision(0.97) == 0.8


def test_very_long_input_has_an_answer(nlu_model):
    text = "Đường Lê Lợi phường Bến Thành ngập nặng sau mưa. " * 200  # 10,000 characters
    analysis = nlu_model.analyse(text)
    assert analysis.category == "ha_tang_do_thi"
    assert analysis.ward is not None and analysis.ward.code == "26743"


def test_predict_writes_one_line_per_line_in_order(nlu_model, monkeypatch):
    from tiepdan.cli import main

    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    lines = [
        json.dumps({"id": 1, "text": "Đèn đường hỏng ở P. Phú Cường, TP Thủ Dầu Một"}),
        "this is not json",
        json.dumps({"id": 3, "text": ""}),
        json.dumps({"id": 4}),
        json.dumps({"id": 5, "text": "rác ứ đọng đầu hẻm ở phường Dĩ An"}),
    ]
    result = CliRunner().invoke(main, ["nlu", "predict"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 5
    assert out[0]["id"] == 1 and out[0]["category"] == "ha_tang_do_thi"
    assert out[0]["agency"] == "SXD"
    assert out[0]["ward"]["code"] == "25747"
    assert out[0]["ward"]["province_code"] == "79"
    assert "error" in out[1] and "not JSON" in out[1]["error"]
    assert out[2]["id"] == 3 and out[2]["category"] == "khac" and out[2]["ward"] is None
    assert "error" in out[3]
    assert out[4]["category"] == "moi_truong"
    assert out[4]["agency"] == "UBND_25942"  # moi_truong goes to the ward's committee


def test_evaluate_prints_the_report(nlu_model, monkeypatch, tmp_path):
    from tiepdan.cli import main

    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    data = tmp_path / "some.jsonl"
    data.write_text(
        json.dumps({"text": "mất điện cả ngày", "category": "dien_nuoc"}, ensure_ascii=False) + "\n"
    )
    result = CliRunner().invoke(main, ["nlu", "evaluate", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "confusion matrix" in result.output
    assert "dien_nuoc" in result.output


def test_import_adds_training_examples_and_changes_the_model_key(tmp_path, monkeypatch):
    from nlu.training import model_dir
    from tiepdan.cli import main

    monkeypatch.setenv("TIEPDAN_NLU_EXTRA_DIR", str(tmp_path / "extra"))
    get_settings.cache_clear()
    try:
        before = model_dir(get_settings())
        source = tmp_path / "export-1022.csv"
        source.write_text(
            "text,category\n"
            "Cống bể tràn nước thải ra đường,ha_tang_do_thi\n"
            ",giao_thong\n"
            "Xin cấp lại sổ hộ khẩu,khong_co\n",
            encoding="utf-8",
        )
        result = CliRunner().invoke(main, ["nlu", "import", str(source)])
        assert result.exit_code == 0, result.output
        assert "Imported 1 examples" in result.output and "2 skipped" in result.output
        examples = dataset.training_examples(tmp_path / "extra")
        assert examples[-1] == dataset.Example("Cống bể tràn nước thải ra đường", "ha_tang_do_thi")
        assert model_dir(get_settings()) != before
    finally:
        get_settings.cache_clear()


def test_import_refuses_a_csv_without_the_columns(tmp_path):
    from tiepdan.cli import main

    source = tmp_path / "bad.csv"
    source.write_text("noi_dung,linh_vuc\nabc,def\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["nlu", "import", str(source)])
    assert result.exit_code != 0 and "needs the columns" in result.output


def test_tickets_staff_recategorised_become_training_examples(tmp_path, monkeypatch):
    from sqlalchemy import delete

    from core.database import session_scope
    from feedback.auth import SERVICE
    from feedback.models import Ticket, TicketEvent
    from feedback.schemas import TicketCreate
    from feedback.service import create_ticket
    from tiepdan.cli import main

    monkeypatch.setattr(get_settings(), "nlu_extra_dir", tmp_path / "extra")
    monkeypatch.setattr("core.celery_app.celery_app.send_task", lambda *a, **k: None)
    texts = {
        "moved": "Cống thoát nước trước chợ bị vỡ, nước tràn ra lòng đường xe không đi được",
        "kept": "Đèn giao thông ngã tư nhấp nháy vàng cả ngày",
    }
    ids = []
    with session_scope() as session:
        for key, text in texts.items():
            ticket = create_ticket(session, data=TicketCreate(description=text), actor=SERVICE)
            ticket.predicted_category_code = "giao_thong"
            ticket.category_code = "ha_tang_do_thi" if key == "moved" else "giao_thong"
            session.flush()
            ids.append(ticket.id)
    try:
        result = CliRunner().invoke(main, ["nlu", "export-corrections"])
        assert result.exit_code == 0, result.output
        lines = (tmp_path / "extra" / "corrections.jsonl").read_text("utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
        assert {"text": texts["moved"], "category": "ha_tang_do_thi"} in rows
        assert all(row["text"] != texts["kept"] for row in rows)
        assert dataset.Example(texts["moved"], "ha_tang_do_thi") in dataset.training_examples(
            tmp_path / "extra"
        )
    finally:
        with session_scope() as session:
            session.execute(delete(TicketEvent).where(TicketEvent.ticket_id.in_(ids)))
            session.execute(delete(Ticket).where(Ticket.id.in_(ids)))


def test_predict_says_whether_routing_would_triage_and_the_language(nlu_model, monkeypatch):
    from core.settings import get_settings
    from tiepdan.cli import main

    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    lines = [
        json.dumps({"id": "vi", "text": "Đèn đường hỏng ở P. Phú Cường, TP Thủ Dầu Một"}),
        json.dumps({"id": "vague", "text": "phản ánh việc ở khu phố"}),
        json.dumps({"id": "en", "text": "The street light near our factory gate is broken"}),
    ]

    def run() -> dict[str, dict]:
        result = CliRunner().invoke(main, ["nlu", "predict"], input="\n".join(lines) + "\n")
        assert result.exit_code == 0, result.output
        return {row["id"]: row for row in map(json.loads, result.stdout.splitlines())}

    out = run()
    assert out["vi"]["triage"] is False and out["vi"]["language"] == "vi"
    assert out["vague"]["triage"] is True  # routing would not trust so vague a message
    assert out["en"]["language"] == "en"
    assert all(isinstance(row["triage"], bool) for row in out.values())
    # Under other settings, the same lines: no classifier sends everything to triage.
    monkeypatch.setattr(get_settings(), "classifier", "none")
    assert all(row["triage"] for row in run().values())
    # A threshold of 0 trusts every prediction: even the vague line goes to an agency.
    monkeypatch.setattr(get_settings(), "classifier", "nlu")
    monkeypatch.setattr(get_settings(), "triage_threshold", 0.0)
    assert run()["vague"]["triage"] is False
