import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedback.province import (
    ProvinceConfig,
    Taxonomy,
    default_province_file,
    load_province,
    load_taxonomy,
)

REPO_DIR = Path(__file__).resolve().parents[2]

DEPARTMENTS = {
    "CA_TP": "Công an Thành phố Hồ Chí Minh",
    "SXD": "Sở Xây dựng",
    "SNNMT": "Sở Nông nghiệp và Môi trường",
    "SYT": "Sở Y tế",
    "SGDDT": "Sở Giáo dục và Đào tạo",
    "SCT": "Sở Công Thương",
    "STC": "Sở Tài chính",
    "SNV": "Sở Nội vụ",
    "SVHTT": "Sở Văn hóa và Thể thao",
    "SDL": "Sở Du lịch",
    "VP_UBND": "Văn phòng Ủy ban nhân dân Thành phố",
}


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def hcmc() -> ProvinceConfig:
    return load_province(default_province_file())


# The real taxonomy and province file


def test_taxonomy_has_the_shared_codes(taxonomy: Taxonomy) -> None:
    assert len(taxonomy.categories) == 14
    assert taxonomy.categories["ha_tang_do_thi"] == "Hạ tầng đô thị"
    assert "khac" in taxonomy.categories
    assert "file_complaint" in taxonomy.intents
    assert "ask_status" in taxonomy.intents


def test_province_is_hcmc(hcmc: ProvinceConfig) -> None:
    assert default_province_file() == REPO_DIR / "feedback/provinces/79-ho-chi-minh.yaml"
    assert hcmc.province.code == "79"
    assert hcmc.province.name == "Thành phố Hồ Chí Minh"
    assert hcmc.province.timezone == "Asia/Ho_Chi_Minh"


def test_has_168_wards_with_locations(hcmc: ProvinceConfig) -> None:
    assert len(hcmc.wards) == 168
    assert len({w.code for w in hcmc.wards}) == 168
    for ward in hcmc.wards:
        assert len(ward.code) == 5 and ward.code.isdigit(), ward
        assert ward.name.split(" ")[0] in {"Phường", "Xã", "Đặc"}, ward
        assert ward.lat is not None and ward.lon is not None, ward
        # Côn Đảo is the southernmost (about 8.7° N); Bình Dương's north edge is below 11.6° N.
        assert 8.5 < ward.lat < 11.6 and 106.0 < ward.lon < 107.7, ward


def test_includes_former_binh_duong_and_ba_ria_vung_tau(hcmc: ProvinceConfig) -> None:
    names = {w.code: w.name for w in hcmc.wards}
    assert names["25747"] == "Phường Thủ Dầu Một"
    assert "Phường Vũng Tàu" in names.values()
    assert "Đặc khu Côn Đảo" in names.values()


def test_has_the_11_departments(hcmc: ProvinceConfig) -> None:
    departments = {a.code: a.name for a in hcmc.agencies if a.level == "department"}
    assert departments == DEPARTMENTS


def test_each_ward_has_its_own_peoples_committee(hcmc: ProvinceConfig) -> None:
    committees = [a for a in hcmc.agencies if a.level == "ward"]
    assert len(committees) == 168
    names = {w.code: w.name for w in hcmc.wards}
    served = []
    for agency in committees:
        assert len(agency.wards) == 1, agency
        (ward,) = agency.wards
        assert agency.code == f"UBND_{ward}"
        assert agency.name == f"Ủy ban nhân dân {names[ward]}"
        served.append(ward)
    assert sorted(served) == sorted(names)
    thu_dau_mot = next(a for a in hcmc.agencies if a.code == "UBND_25747")
    assert thu_dau_mot.name == "Ủy ban nhân dân Phường Thủ Dầu Một"


def test_every_category_has_a_default_agency_and_a_rule(
    hcmc: ProvinceConfig, taxonomy: Taxonomy
) -> None:
    agencies = {a.code for a in hcmc.agencies}
    categories = {c.code: c for c in hcmc.categories}
    assert set(categories) == set(taxonomy.categories)
    for code, category in categories.items():
        assert category.name == taxonomy.categories[code]
        assert category.default_agency in DEPARTMENTS, category
        assert category.sla_working_days >= 1
        assert any(rule.category == code for rule in hcmc.routing), code
    for rule in hcmc.routing:
        assert rule.to == "ward" or rule.to in agencies, rule
        assert rule.category in categories, rule


def test_routing_table(hcmc: ProvinceConfig) -> None:
    table = {rule.category: rule.to for rule in hcmc.routing}
    assert table == {
        "trat_tu_xay_dung": "ward",
        "moi_truong": "ward",
        "dat_dai": "ward",
        "thu_tuc_hanh_chinh": "ward",
        "ha_tang_do_thi": "SXD",
        "giao_thong": "SXD",
        "an_ninh_trat_tu": "CA_TP",
        "y_te": "SYT",
        "giao_duc": "SGDDT",
        "dien_nuoc": "SCT",
        "doanh_nghiep_dau_tu": "STC",
        "lao_dong_an_sinh": "SNV",
        "van_hoa_du_lich": "SVHTT",
        "khac": "VP_UBND",
    }
    ward_rules = [rule for rule in hcmc.routing if rule.to == "ward"]
    city_rules = [rule for rule in hcmc.routing if rule.to != "ward"]
    assert min(r.priority for r in ward_rules) > max(r.priority for r in city_rules)
    defaults = {c.code: c.default_agency for c in hcmc.categories}
    assert defaults["moi_truong"] == "SNNMT"
    assert defaults["trat_tu_xay_dung"] == "SXD"
    assert defaults["dat_dai"] == "SNNMT"
    assert defaults["thu_tuc_hanh_chinh"] == "VP_UBND"


def test_generated_file_is_up_to_date(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = REPO_DIR.parent / "shared"
    if not (shared / "data" / "vn-admin-units-2025").is_dir():
        pytest.skip("the shared data folder is not next to the repository")
    spec = importlib.util.spec_from_file_location(
        "build_province", REPO_DIR / "scripts" / "build_province.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the module runs.
    monkeypatch.setitem(sys.modules, "build_province", module)
    spec.loader.exec_module(module)
    assert module.generate(shared) == default_province_file().read_text(encoding="utf-8")


# Validation, on small files


def _minimal(taxonomy: Taxonomy) -> dict[str, Any]:
    return {
        "province": {"code": "79", "name": "Thành phố Hồ Chí Minh", "timezone": "Asia/Ho_Chi_Minh"},
        "agencies": [
            {"code": "SXD", "name": "Sở Xây dựng", "level": "department"},
            {
                "code": "UBND_25747",
                "name": "UBND P. Thủ Dầu Một",
                "level": "ward",
                "wards": ["25747"],
            },
            {"code": "UBND_25750", "name": "UBND P. Phú Lợi", "level": "ward", "wards": ["25750"]},
        ],
        "wards": [
            {"code": "25747", "name": "Phường Thủ Dầu Một", "lat": 10.969, "lon": 106.661},
            {"code": "25750", "name": "Phường Phú Lợi"},
        ],
        "categories": [
            {"code": code, "name": name, "sla_working_days": 5, "default_agency": "SXD"}
            for code, name in taxonomy.categories.items()
        ],
        "routing": [{"category": "moi_truong", "to": "ward", "priority": 100}]
        + [{"category": code, "to": "SXD"} for code in taxonomy.categories],
    }


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "province.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _expect_error(tmp_path: Path, data: dict[str, Any], match: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(ValueError, match=match) as info:
        load_province(path)
    assert str(path) in str(info.value)


def test_minimal_file_loads(tmp_path: Path, taxonomy: Taxonomy) -> None:
    config = load_province(_write(tmp_path, _minimal(taxonomy)))
    assert config.wards[1].lat is None
    assert config.routing[1].priority == 0
    assert config.routing[1].wards == []
    assert config.agencies[0].wards == []


def test_duplicated_agency_code(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["agencies"].append({"code": "SXD", "name": "Sở Xây dựng (2)", "level": "department"})
    _expect_error(tmp_path, data, r"agency code 'SXD' is duplicated")


def test_duplicated_ward_code(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["wards"].append({"code": "25747", "name": "Phường Thủ Dầu Một"})
    _expect_error(tmp_path, data, r"ward code '25747' is duplicated")


def test_category_not_in_taxonomy(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["categories"].append(
        {"code": "ngap_nuoc", "name": "Ngập", "sla_working_days": 3, "default_agency": "SXD"}
    )
    _expect_error(tmp_path, data, r"category 'ngap_nuoc' is not in the taxonomy")


def test_taxonomy_category_missing(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["categories"] = [c for c in data["categories"] if c["code"] != "dat_dai"]
    data["routing"] = [r for r in data["routing"] if r["category"] != "dat_dai"]
    _expect_error(tmp_path, data, r"taxonomy category 'dat_dai' is missing")


def test_unknown_default_agency(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["categories"][0]["default_agency"] = "SGTVT"
    _expect_error(tmp_path, data, r"'ha_tang_do_thi' has unknown default_agency 'SGTVT'")


def test_routing_to_unknown_agency(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["routing"].append({"category": "giao_thong", "to": "SGTVT", "priority": 10})
    _expect_error(tmp_path, data, r"category 'giao_thong'\) routes to unknown agency 'SGTVT'")


def test_routing_unknown_category(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["routing"].append({"category": "ngap_nuoc", "to": "SXD"})
    _expect_error(tmp_path, data, r"names unknown category 'ngap_nuoc'")


def test_unknown_ward_in_routing_rule(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["routing"].append({"category": "moi_truong", "to": "SXD", "wards": ["99999"]})
    _expect_error(tmp_path, data, r"names unknown ward code '99999'")


def test_unknown_ward_in_agency(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["agencies"][1]["wards"] = ["99999"]
    _expect_error(tmp_path, data, r"agency 'UBND_25747' serves unknown ward code '99999'")


def test_category_without_routing_rule(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["routing"] = [r for r in data["routing"] if r["category"] != "khac"]
    _expect_error(tmp_path, data, r"category 'khac' has no routing rule")


def test_ward_routing_needs_a_committee_for_every_ward(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["agencies"] = data["agencies"][:2]
    _expect_error(tmp_path, data, r"routes to the ward, but ward '25750' has no ward-level agency")


def test_ward_served_by_two_committees(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["agencies"][2]["wards"] = ["25750", "25747"]
    _expect_error(tmp_path, data, r"ward '25747' is served by two ward-level agencies")


def test_ward_is_a_reserved_agency_code(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    data["agencies"].append({"code": "ward", "name": "?", "level": "department"})
    _expect_error(tmp_path, data, r"agency code 'ward' is reserved")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d["categories"][0].update(sla_days=5), r"sla_days"),
        (lambda d: d["routing"][0].update(prority=1), r"prority"),
        (lambda d: d["categories"][0].update(sla_working_days=0), r"sla_working_days"),
        (lambda d: d["agencies"][0].update(level="district"), r"level"),
        (lambda d: d["wards"][0].update(code=25747), r"code"),
        (lambda d: d.pop("routing"), r"routing"),
    ],
    ids=["typo-in-category", "typo-in-rule", "sla-zero", "bad-level", "unquoted-code", "missing"],
)
def test_schema_errors_name_the_file(tmp_path: Path, taxonomy: Taxonomy, mutate, match) -> None:
    data = copy.deepcopy(_minimal(taxonomy))
    mutate(data)
    _expect_error(tmp_path, data, match)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("province: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.yaml: invalid YAML"):
        load_province(path)


def test_taxonomy_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text("categories:\n  khac: {covers: anything}\nintents: {greet: hi}\n")
    with pytest.raises(ValueError, match=r"taxonomy.yaml: category 'khac' has no name"):
        load_taxonomy(path)


def test_explicit_taxonomy_is_used(tmp_path: Path, taxonomy: Taxonomy) -> None:
    data = _minimal(taxonomy)
    smaller = Taxonomy(categories={"khac": "Khác"}, intents={})
    with pytest.raises(ValueError, match=r"category 'ha_tang_do_thi' is not in the taxonomy"):
        load_province(_write(tmp_path, data), taxonomy=smaller)
