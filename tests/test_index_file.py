import json

import numpy as np
import pytest

from corpus import load_challenges, load_organisations
from embeddings import FakeEmbedder
from matcher import IndexFileError, PartnerIndex, Project
from matcher.index import file as index_file
from tests.conftest import FIXTURE_CORPUS


@pytest.fixture
def orgs():
    return load_organisations(FIXTURE_CORPUS)


@pytest.fixture
def saved(tmp_path, orgs, fake_embedder):
    index = PartnerIndex(fake_embedder).fit(orgs, load_challenges())
    return index, index.save(tmp_path / "idx.npz")


def _rewrite_meta(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = {**json.loads(bytes(arrays["meta"]).decode()), **changes}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_save_load_roundtrip_and_staleness(tmp_path, saved, orgs, fake_embedder):
    index, path = saved
    loaded = PartnerIndex.load(path, fake_embedder, orgs, load_challenges())
    q = "cobalt from tailings"
    assert [m.organisation.id for m in loaded.rank(q)] == [m.organisation.id for m in index.rank(q)]
    assert loaded.corpus_hash_ == index.corpus_hash_ and loaded.model_id_ == index.model_id_
    assert not list(tmp_path.glob(".partner-index-*"))  # no temp file left behind
    with pytest.raises(IndexFileError, match="model"):
        PartnerIndex.load(path, FakeEmbedder(128), orgs, load_challenges())
    changed = [orgs[0].model_copy(update={"description": "changed"}), *orgs[1:]]
    with pytest.raises(IndexFileError, match="another corpus"):
        PartnerIndex.load(path, fake_embedder, changed, load_challenges())
    (tmp_path / "bad.npz").write_bytes(b"not an index")
    with pytest.raises(IndexFileError, match=r"unreadable \(.*damaged, or not an index file\); rebuild it"):
        PartnerIndex.load(tmp_path / "bad.npz", fake_embedder, orgs, load_challenges())


def test_an_index_file_the_system_will_not_open_says_so_rather_than_asking_for_a_rebuild(saved, monkeypatch):
    # Tests run as root in CI, where file modes do not refuse reads: the refusal is simulated where numpy opens it.
    _, path = saved

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(index_file.np, "load", refuse)
    with pytest.raises(IndexFileError, match=r"cannot be read \(Permission denied\); give this user read access") as e:
        PartnerIndex.read_meta(path)
    assert str(path.parent) in str(e.value) and "PM_DATA_DIR" in str(e.value)


def test_read_meta_names_model_corpus_and_ids_without_loading_vectors(saved):
    index, path = saved
    meta = PartnerIndex.read_meta(path)
    assert meta == index_file.read_meta(path)
    assert meta.ids == list(index.ids_) and meta.model_id == index.model_id_ and meta.mode == "exact"
    assert meta.corpus_hash == index.corpus_hash_
    with pytest.raises(FileNotFoundError):
        PartnerIndex.read_meta(path.with_name("missing.npz"))


def test_an_older_format_is_refused_with_a_rebuild_hint(saved, orgs, fake_embedder):
    _, path = saved
    _rewrite_meta(path, format=1)
    with pytest.raises(IndexFileError, match="format 1.*rebuild"):
        PartnerIndex.load(path, fake_embedder, orgs, load_challenges())


def test_other_challenge_labels_are_refused(saved, orgs, fake_embedder):
    _, path = saved
    labelled = [Project(id="p-1", title="Tailings", country="CA", summary="Cobalt from tailings.",
                        challenge_areas=[1])]
    with pytest.raises(IndexFileError, match="challenge labels") as caught:
        PartnerIndex.load(path, fake_embedder, orgs, load_challenges(), labelled)
    assert caught.value.details == {"reason": "labels_changed"}


def test_a_file_whose_owners_do_not_fit_its_records_is_refused(saved, orgs, fake_embedder):
    _, path = saved
    reordered = list(reversed(PartnerIndex.read_meta(path).ids))
    _rewrite_meta(path, ids=reordered)  # same corpus, same counts, rows no longer where the vectors say
    with pytest.raises(IndexFileError, match="does not fit|inconsistent"):
        PartnerIndex.load(path, fake_embedder, orgs, load_challenges())
