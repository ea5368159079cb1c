from pathlib import Path

from actions.cases.experts import load_experts

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_shipped_expert_list_is_valid_and_all_samples_use_reserved_contacts():
    experts, problems = load_experts(ROOT / "knowledge" / "experts.yml", ROOT)
    assert problems == []
    assert experts and all(e.sample for e in experts)
    for e in experts:
        address = e.contact.address
        assert address.endswith("@example.com") or "555-01" in address or e.contact.channel == "telegram"


def test_each_broken_entry_is_reported_with_file_line_and_field():
    experts, problems = load_experts(FIXTURES / "broken" / "experts.yml", FIXTURES)
    assert [e.id for e in experts] == []  # every entry has a mistake
    messages = [str(p) for p in problems]
    assert "broken/experts.yml:9: [0].contact: a sample entry must use an example.com/.org/.net address" in messages
    assert any(m.startswith("broken/experts.yml:19: [1].countries: ['Japan'] are not two-letter") for m in messages)
    assert any(
        m.startswith("broken/experts.yml:21: [1].industries: ['lamps'] are not industry codes") for m in messages
    )
    assert any(m.startswith("broken/experts.yml:30: [2].id: duplicate id 'exp-001', first on line 2") for m in messages)
    assert "broken/experts.yml:44: [3].name: missing" in messages
    assert any(m.startswith("broken/experts.yml:47: [3].ip_types.0: ") for m in messages)


def test_duplicate_expert_ids_are_reported(tmp_path):
    text = (ROOT / "knowledge" / "experts.yml").read_text(encoding="utf-8")
    text += text[text.index("- id: exp-001") :].split("\n\n")[0].replace("Sample Expert A", "Copy") + "\n"
    path = tmp_path / "experts.yml"
    path.write_text(text, encoding="utf-8")
    experts, problems = load_experts(path, tmp_path)
    assert len(problems) == 1 and "[8].id: duplicate id 'exp-001', first on line" in str(problems[0])


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "experts.yml"
    path.write_text("- id: exp-001\n  name: [unclosed\n", encoding="utf-8")
    _, problems = load_experts(path, tmp_path)
    assert str(problems[0]).startswith("experts.yml:3: yaml: invalid YAML")
