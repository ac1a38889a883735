"""ROR ids: one stored form, refused with a reason when wrong, and matched before any name."""

import pytest

from corpus import CorpusError, Organisation, load_organisations
from corpus.importers import OrganisationResolver, plan_import, read_mapping
from corpus.schema import ror_id
from tests.conftest import FIXTURE_CORPUS, TESTS

IMPORTS = TESTS / "data" / "imports"
# Valid ROR ids (the check digits hold) made up for fixture records: no real body has them in these tests.
MAGNET_ROR = "https://ror.org/0fxtes767"
OTHER_ROR = "https://ror.org/0fxtes864"


@pytest.fixture
def existing():
    orgs = load_organisations(FIXTURE_CORPUS)
    return [o.model_copy(update={"identifiers": {"ror": MAGNET_ROR}}) if o.id == "fx-magnet-recyclers" else o
            for o in orgs]


@pytest.mark.parametrize("written", ["https://ror.org/0fxtes767", "0FXTES767", "ror.org/0fxtes767/",
                                     "http://ror.org/0fxtes767", "ror:0fxtes767"])
def test_every_way_of_writing_a_ror_id_is_stored_one_way(written):
    assert ror_id(written) == MAGNET_ROR
    org = Organisation(id="x", name="X", country="GB", org_type="rto", description="", identifiers={"ror": written})
    assert org.identifiers == {"ror": MAGNET_ROR}


@pytest.mark.parametrize(("written", "why"), [
    ("0fxtes766", "check digits are 66, the other characters give 67: a character is mistyped"),
    ("1fxtes767", "starts with 0"),
    ("0fxtos767", "'o' cannot appear"),
    ("0fxtes76", "8 characters after https://ror.org/, a ROR id has 9"),
    ("https://ror.org/0fxtesabc", "ends with two check digits"),
])
def test_a_wrong_ror_id_is_refused_saying_what_is_wrong_and_how_to_write_it(written, why):
    with pytest.raises(ValueError, match=why) as caught:
        ror_id(written)
    assert "copy it from the organisation's page on ror.org" in str(caught.value)


def test_the_resolver_matches_a_differently_spelled_name_by_its_ror_id(existing):
    resolver = OrganisationResolver(existing)
    found = resolver.resolve("Magnet Recovery Centre of Fixtureland", role="participant",
                             identifiers={"ror": "0FXTES767"}, country="GB")
    assert (found.action, found.organisation_id, found.method) == ("matched", "fx-magnet-recyclers", "identifier")
    assert found.note == f"ror id {MAGNET_ROR}"
    with pytest.raises(CorpusError, match="Somebody: '0fxtes766' is not a ROR id: its check digits"):
        resolver.resolve("Somebody", role="participant", identifiers={"ror": "0fxtes766"})


def test_a_csv_row_with_a_known_ror_id_updates_that_organisation(existing):
    plan = plan_import(IMPORTS / "orgs_ror.csv", "csv", existing)
    magnet, new = plan.organisations
    assert magnet.id == "fx-magnet-recyclers" and magnet.name == "Fixture Magnet Recycling Lab"
    assert magnet.aliases == ["Fixture Magnet Recyclers Group"]  # the row's spelling, kept for later name matches
    assert [s.ref for s in magnet.sources] == ["tests/data: fictional fixture record for unit tests",
                                              "https://example.org/fixture-ror"]
    assert new.id == "gb-fixture-new-body" and new.identifiers == {"ror": OTHER_ROR}
    assert plan.updated_organisations == ["fx-magnet-recyclers"] and plan.created_organisations == [new.id]
    [decision] = [r.as_row() for r in plan.resolutions]
    assert decision["action"] == "matched" and decision["method"] == "identifier"
    assert decision["note"] == f"ror id {MAGNET_ROR}; the row's id gb-fixture-magnet-recyclers-group is not used"


def test_a_bad_ror_cell_refuses_the_whole_file_naming_the_line(existing, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text((IMPORTS / "orgs_ror.csv").read_text().replace("0fxtes864", "0fxtes865"))
    with pytest.raises(CorpusError, match=r"nothing imported: 1 invalid record.*line 3.*'0fxtes865' is not a ROR "
                                          r"id: its check digits are 65, the other characters give 64"):
        plan_import(bad, "csv", existing)


def test_a_row_naming_one_body_by_id_and_another_by_ror_is_refused(existing, tmp_path):
    clash = tmp_path / "clash.csv"
    clash.write_text((IMPORTS / "orgs_ror.csv").read_text().replace("gb-fixture-magnet-recyclers-group",
                                                                    "fx-tailings-lab"))
    with pytest.raises(CorpusError, match=r"line 2.*ror id https://ror.org/0fxtes767 belongs to Fixture Magnet "
                                          r"Recycling Lab \(fx-magnet-recyclers\), not to fx-tailings-lab"):
        plan_import(clash, "csv", existing)


def test_a_mapping_file_may_name_the_body_by_its_ror_id(existing, tmp_path):
    mapping = tmp_path / "map.csv"
    mapping.write_text("name,organisation_id,ROR ID\nNERC Magnet Fixture Unit,,0fxtes767\n"
                       "Fixture Other,https://ror.org/0FXTES767,\n")
    read = read_mapping(mapping)
    assert set(read.values()) == {MAGNET_ROR}
    resolver = OrganisationResolver(existing, mapping=read)
    found = resolver.resolve("NERC Magnet Fixture Unit", role="lead", country="GB")
    assert (found.action, found.organisation_id, found.method) == ("matched", "fx-magnet-recyclers", "map")
    with pytest.raises(CorpusError, match="ROR id.*that no organisation has: https://ror.org/0fxtes864"):
        OrganisationResolver(existing, mapping={"x": OTHER_ROR})
    mapping.write_text("name,organisation_id,ror\nFixture Other,,0fxtes768\n")
    with pytest.raises(CorpusError, match="map.csv line 2: '0fxtes768' is not a ROR id"):
        read_mapping(mapping)


def test_corpus_check_refuses_one_ror_id_on_two_organisations_and_a_bad_one(tmp_path):
    from corpus.quality import check_corpus
    from tests.test_quality import org, write

    write(tmp_path / "organisations" / "a.jsonl", [org(1, identifiers={"ror": "0fxtes767"}),
                                                   org(2, identifiers={"ror": MAGNET_ROR}),
                                                   org(3, identifiers={"ror": "0fxtes766"})])
    findings = {(f.level, f.check, f.record) for f in check_corpus(tmp_path).findings}
    assert ("error", "duplicate_identifier", "gb-o1, gb-o2") in findings
    assert any(check == "invalid_record" for _, check, _ in findings)


def test_importing_through_the_matcher_updates_the_body_with_that_ror_id_and_creates_no_twin(matcher, tmp_path):
    magnet = matcher.get_organisation("fx-magnet-recyclers")
    matcher.save_organisation(magnet.model_copy(update={"identifiers": {"ror": "0fxtes767"}}))
    assert matcher.get_organisation("fx-magnet-recyclers").identifiers == {"ror": MAGNET_ROR}  # stored one way
    before = matcher.store_.count_organisations()
    jsonl = tmp_path / "orgs.jsonl"
    jsonl.write_text('{"id": "gb-magnet-lab-of-fixtures", "name": "Magnet Lab of Fixtures", "country": "GB", '
                     '"org_type": "university", "description": "Fixture record.", "ROR ID": "ror.org/0fxtes767"}\n')
    plan = matcher.import_file(jsonl, "jsonl")
    assert plan.updated_organisations == ["fx-magnet-recyclers"] and not plan.created_organisations
    assert matcher.store_.count_organisations() == before
    stored = matcher.get_organisation("fx-magnet-recyclers")
    assert stored.name == "Fixture Magnet Recycling Lab" and "Magnet Lab of Fixtures" in stored.aliases
    assert matcher.store_.get_organisation("gb-magnet-lab-of-fixtures") is None


def test_one_body_twice_in_a_file_is_refused(existing, tmp_path):
    twice = tmp_path / "twice.csv"
    rows = (IMPORTS / "orgs_ror.csv").read_text().splitlines()
    twice.write_text("\n".join([rows[0], rows[1], rows[1].replace("gb-fixture-magnet-recyclers-group,", "gb-x,")
                                .replace("0FXTES767", "0fxtes767")]) + "\n")
    with pytest.raises(CorpusError, match=r"twice.csv line 3: field 'identifiers': ror id https://ror.org/0fxtes767 "
                                          r"is also on twice.csv line 2; one body has one row"):
        plan_import(twice, "csv", existing)
    kept = tmp_path / "kept.csv"
    kept.write_text("\n".join([rows[0], rows[1].replace("gb-fixture-magnet-recyclers-group,", "fx-magnet-recyclers,"),
                               rows[2]]) + "\n")
    plan = plan_import(kept, "csv", existing)  # the row with the body's own id and its ROR id: a plain update
    assert [o.id for o in plan.organisations] == ["fx-magnet-recyclers", "gb-fixture-new-body"]
