"""The staff list (knowledge/staff.yml): the repository's samples load, and mistakes are file:line problems."""

from pathlib import Path

from actions.cases.staff import load_staff, on_duty, staff_hours

ROOT = Path(__file__).resolve().parents[3]


def test_the_repository_staff_list_is_valid_and_only_samples():
    staff, problems = load_staff(ROOT / "knowledge" / "staff.yml", ROOT)
    assert problems == [] and len(on_duty(staff)) >= 1
    assert all(m.sample for m in staff)  # no real-looking person is invented
    assert staff_hours(staff) == max(m.response_hours for m in on_duty(staff))


def test_a_sample_with_a_real_looking_contact_is_refused_with_its_line(tmp_path):
    (tmp_path / "staff.yml").write_text(
        "- id: stf-001\n  sample: true\n  name: A\n  organisation: B\n"
        "  contact:\n    channel: email\n    address: someone@gmail.com\n  response_hours: 24\n  on_duty: true\n",
        encoding="utf-8",
    )
    staff, problems = load_staff(tmp_path / "staff.yml", tmp_path)
    assert staff == []
    assert [str(p) for p in problems] == [
        "staff.yml:5: [0].contact: a sample entry must use an example.com/.org/.net address"
    ]


def test_an_empty_or_missing_staff_list_is_an_error(tmp_path):
    (tmp_path / "staff.yml").write_text("[]\n", encoding="utf-8")
    assert load_staff(tmp_path / "staff.yml", tmp_path)[1][0].field == "staff"
    _, problems = load_staff(tmp_path / "missing.yml", tmp_path)
    assert problems and problems[0].severity == "error"
