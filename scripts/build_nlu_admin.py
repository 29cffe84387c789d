"""Generate the ward gazetteer of the NLU: `nlu/admin/<province>-wards.csv` and `-legacy.csv`.

The NLU reads place names without a database, so it carries its own copy of the province's
administrative units (MIT, see nlu/admin/SOURCE.md):

- `<code>-wards.csv`: today's wards and communes (code, full name, lat, lon), from
  `vn-admin-units-2025` (names, codes) and the mapping's
  `2025_34-province-3221-ward_with_location.csv` (lat/lon, joined on the code).
- `<code>-elsewhere.txt`: the names of every other province, old and new.
- `<code>-legacy.csv`: every pre-2025 ward or commune now in the province, with its old district
  and old province, and the new code it went to: one row per (old ward, new ward), so an old
  ward that was split has several rows. From `convert_legacy_2025_simple.csv`.

Usage, from the repository root:

    python3 scripts/build_nlu_admin.py [--province 79] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--province", default="79")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    data = args.shared / "data"
    out = ROOT / "nlu" / "admin"
    out.mkdir(parents=True, exist_ok=True)

    units = json.loads(
        (data / "vn-admin-units-2025/vn_units_34_provinces_3321_wards.json").read_text()
    )
    province = next(p for p in units if p["Code"] == args.province)
    locations = {}
    with (data / "vn-admin-mapping-2025/2025_34-province-3221-ward_with_location.csv").open() as f:
        for row in csv.DictReader(f):
            code = row.get("wardCode") or row.get("newWardCode") or ""
            if code:
                locations[str(int(float(code))).zfill(5)] = row
    with (out / f"{args.province}-wards.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["code", "name", "province_code", "province_name", "lat", "lon"])
        for ward in province["Wards"]:
            loc = locations.get(ward["Code"], {})
            writer.writerow(
                [
                    ward["Code"],
                    ward["FullName"],
                    args.province,
                    province["FullName"],
                    loc.get("wardLat", ""),
                    loc.get("wardLon", ""),
                ]
            )

    rows = 0
    with (
        (data / "vn-admin-mapping-2025/convert_legacy_2025_simple.csv").open() as f,
        (out / f"{args.province}-legacy.csv").open("w", newline="") as target,
    ):
        writer = csv.writer(target)
        writer.writerow(["old_province", "old_district", "old_ward", "new_code"])
        for row in csv.DictReader(f):
            if (
                row["newProvinceCode"] != str(int(args.province))
                and row["newProvinceCode"] != args.province
            ):
                continue
            if not row["ward"]:
                continue
            writer.writerow(
                [row["province"], row["district"], row["ward"], row["newWardCode"].zfill(5)]
            )
            rows += 1
    # Names of other provinces, old and new: a ward named next to one of them is not ours.
    elsewhere = {p["Name"] for p in units if p["Code"] != args.province}
    with (data / "vn-admin-mapping-2025/convert_legacy_2025_simple.csv").open() as f:
        ours = set()
        for row in csv.DictReader(f):
            (
                ours
                if row["newProvinceCode"] in (args.province, str(int(args.province)))
                else elsewhere
            ).add(row["province"].removeprefix("Tỉnh ").removeprefix("Thành phố "))
    elsewhere -= ours | {province["Name"]}
    (out / f"{args.province}-elsewhere.txt").write_text("\n".join(sorted(elsewhere)) + "\n")
    print(f"{len(province['Wards'])} wards, {rows} legacy rows written to {out}")


if __name__ == "__main__":
    main()
