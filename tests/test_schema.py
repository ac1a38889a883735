import pytest
from pydantic import ValidationError

from corpus import Organisation, Project, slugify


def org(**over):
    base = dict(id="gb-x", name="X", country="gb", org_type="university", description="Does things.",
                minerals=["Li", "cobalt", "lithium"], value_chain_stages=["recycling", "recycling"],
                sources=[{"ref": "https://example.org"}])
    base.update(over)
    return Organisation.model_validate(base)


def test_organisation_normalises_country_minerals_and_duplicates():
    o = org()
    assert o.country == "GB"
    assert o.minerals == ["lithium", "cobalt"]
    assert o.value_chain_stages == ["recycling"]


@pytest.mark.parametrize(
    "field,value",
    [("country", "GBR"), ("org_type", "charity"), ("minerals", ["kryptonite"]), ("website", "not a url"),
     ("id", "Has Spaces"), ("value_chain_stages", ["mining"])],
)
def test_organisation_rejects_bad_fields_naming_the_field(field, value):
    with pytest.raises(ValidationError) as e:
        org(**{field: value})
    assert e.value.errors()[0]["loc"][0] == field


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError) as e:
        org(colour="blue")
    assert e.value.errors()[0]["loc"] == ("colour",)


def test_profile_text_carries_name_description_minerals_and_stages():
    text = org(keywords=["hydrometallurgy"]).profile_text()
    assert text.startswith("X.")
    assert "hydrometallurgy" in text and "Lithium" in text and "Recycling and recovery" in text


def test_real_projects_must_cite_sources():
    base = dict(id="p1", title="T", summary="S", country="CA")
    assert Project.model_validate(base).illustrative is True
    with pytest.raises(ValidationError, match="cite"):
        Project.model_validate({**base, "illustrative": False})


def test_slugify():
    assert slugify("Camborne School of Mines (Exeter)") == "camborne-school-of-mines-exeter"
    # Names with no Latin letters or digits get distinct, stable ids rather than one shared placeholder.
    assert slugify("北京大学") != slugify("東京大学") and slugify("北京大学") == slugify("北京大学")
    assert slugify("!!!").startswith("x-")
