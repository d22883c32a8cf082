"""The Ray engine (`semplan index --engine ray`) on a local Ray cluster: the same index as one process.

One local cluster (2 CPUs, no dashboard) serves the whole module; the sample corpus is indexed once
each way, the Ray path with an empty embedding cache of its own so that its actors really encode.
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray")

from semplan.cli import cli  # noqa: E402
from semplan.encode import Encoder  # noqa: E402
from semplan.errors import InputError, InvalidArgument  # noqa: E402
from semplan.ingest import update_index  # noqa: E402
from semplan.scale import RayOptions, ray_indexer  # noqa: E402
from semplan.scale.ray_engine import local_runtime_env  # noqa: E402
from semplan.search import Searcher  # noqa: E402
from semplan.store import Corpus  # noqa: E402

QUERIES = ["课后服务", "垃圾分类", "老旧小区改造", "食品安全监管", "乡村振兴", "营商环境"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=local_runtime_env(), log_to_driver=False,
             logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def single_index(tmp_path_factory, sample_paths, e5_encoder):
    directory = tmp_path_factory.mktemp("single") / "index"
    update_index(directory, sample_paths, encoder=e5_encoder)
    return directory


@pytest.fixture(scope="module")
def ray_build(tmp_path_factory, sample_paths, ray_cluster):
    """(index directory, IndexUpdate, shards directory) of the sample corpus indexed through Ray."""
    root = tmp_path_factory.mktemp("ray")
    with Encoder(cache_path=root / "cache" / "embeddings.sqlite", progress=False) as encoder:
        options = RayOptions(concurrency=2, plans_per_batch=2, shards=root / "shards")
        update = update_index(root / "index", sample_paths, encoder=encoder, indexer=ray_indexer(options))
    return root / "index", update, root / "shards"


def test_ray_path_gives_the_same_clauses_and_index_files(single_index, ray_build):
    ray_index, update, _ = ray_build
    with Corpus.open(single_index) as single, Corpus.open(ray_index) as distributed:
        assert distributed.clauses() == single.clauses()
        assert [p.plan_id for p in distributed.plans()] == [p.plan_id for p in single.plans()]
        assert [p.sha256 for p in distributed.plans()] == [p.sha256 for p in single.plans()]
        for key in ("counts", "model", "format_version"):
            assert distributed.manifest.get(key) == single.manifest.get(key)
        assert distributed.manifest["index"]["kind"] == single.manifest["index"]["kind"]
        for plan in single.plans():
            assert distributed.source_text(plan.plan_id) == single.source_text(plan.plan_id)
    assert sorted(p.name for p in ray_index.iterdir()) == sorted(p.name for p in single_index.iterdir())
    assert update.added.texts_encoded > 0  # its own empty cache: the actors ran the model
    assert len(update.added.added) == 5 and not update.added.failed


def test_ray_vectors_match_the_single_process_vectors(single_index, ray_build):
    with Corpus.open(single_index) as single, Corpus.open(ray_build[0]) as distributed:
        cosines = np.sum(single.vectors() * distributed.vectors(), axis=1)
    assert len(cosines) > 600
    assert cosines.min() >= 0.999


def test_ray_index_answers_searches_as_the_single_process_one(single_index, ray_build, e5_encoder):
    with Corpus.open(single_index) as single, Corpus.open(ray_build[0]) as distributed:
        one, other = Searcher(single, e5_encoder), Searcher(distributed, e5_encoder)
        for query in QUERIES:
            assert [h.clause_id for h in other.by_text(query, 10)] == [h.clause_id for h in one.by_text(query, 10)]
        for clause in single.clauses()[::97]:
            expected = [h.clause_id for h in one.by_clause(clause.clause_id, 10)]
            assert [h.clause_id for h in other.by_clause(clause.clause_id, 10)] == expected


def test_ray_shards_are_kept_where_asked(ray_build):
    assert list(ray_build[2].rglob("*.parquet"))


def test_ray_rerun_leaves_unchanged_plans_alone(ray_build, sample_paths, e5_encoder):
    update = update_index(ray_build[0], sample_paths, encoder=e5_encoder, indexer=ray_indexer(RayOptions(concurrency=1)))
    assert sorted(update.added.unchanged) == sorted(path.stem for path in sample_paths)
    assert update.added.texts_encoded == 0 and update.added.clauses_written == 0
    assert not list(ray_build[0].parent.glob(".index.*.ray-shards"))  # the scratch shards are gone


def test_ray_unreadable_file_stops_the_run_before_encoding(tmp_path, sample_paths, e5_encoder, ray_cluster):
    shutil.copy(sample_paths[0], tmp_path / sample_paths[0].name)
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty.txt: empty file"):
        update_index(tmp_path / "index", [tmp_path], encoder=e5_encoder, indexer=ray_indexer())
    assert not (tmp_path / "index").exists()


def test_ray_options_are_checked():
    with pytest.raises(InvalidArgument, match="concurrency must be at least 1"):
        RayOptions(concurrency=0)


def test_cli_index_ray_from_a_manifest_keeps_going(tmp_path, sample_paths, cache_env, ray_cluster):
    for path in sample_paths[:2]:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    manifest = tmp_path / "plans.csv"
    rows = [f"{path.name},plan-{n},2031" for n, path in enumerate(sample_paths[:2])]
    manifest.write_text("path,plan,year\n" + "\n".join([*rows, "empty.txt,,"]) + "\n", encoding="utf-8")
    out = tmp_path / "index"
    result = CliRunner().invoke(cli, ["index", "--manifest", str(manifest), "--out", str(out), "--engine", "ray",
                                       "--ray-concurrency", "1", "--keep-going"])
    assert result.exit_code == 1, result.output
    assert "empty.txt: empty file" in result.output
    with Corpus.open(out) as corpus:
        assert [plan.plan_id for plan in corpus.plans()] == ["plan-0", "plan-1"]
    listed = CliRunner().invoke(cli, ["plans", "--index", str(out), "--json"])
    assert '"year": 2031' in listed.output


def test_cli_ray_options_need_the_ray_engine(tmp_path, sample_paths):
    result = CliRunner().invoke(cli, ["index", str(sample_paths[0]), "--out", str(tmp_path / "i"),
                                       "--ray-concurrency", "2"])
    assert result.exit_code == 2
    assert "the --ray-* options go with --engine ray" in result.output


def test_cli_manifest_and_paths_do_not_mix(tmp_path, sample_paths):
    manifest = tmp_path / "plans.csv"
    manifest.write_text(f"path\n{sample_paths[0]}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["index", str(sample_paths[1]), "--manifest", str(manifest),
                                       "--out", str(tmp_path / "i")])
    assert result.exit_code == 2
    assert "not both" in result.output


def test_actors_take_a_gpu_each_only_for_the_torch_backend():
    from types import SimpleNamespace

    from semplan.scale.ray_engine import _actor_arguments

    class ClusterWithGpus:
        data = ray.data

        @staticmethod
        def cluster_resources():
            return {"CPU": 8.0, "GPU": 2.0}

    def encoder(backend):
        return SimpleNamespace(spec=SimpleNamespace(name="multilingual-e5-small"), backend_name=backend,
                               batch_size=32, cache_path=None)

    on_gpus = _actor_arguments(ClusterWithGpus, RayOptions(), encoder("torch"))
    assert on_gpus["num_gpus"] == 1 and on_gpus["fn_constructor_kwargs"]["device"] == "cuda"
    assert on_gpus["compute"].max_size == 2
    on_cpus = _actor_arguments(ClusterWithGpus, RayOptions(), encoder("openvino-int8"))
    assert on_cpus["num_cpus"] == 1 and "num_gpus" not in on_cpus
    assert on_cpus["fn_constructor_kwargs"]["device"] == "cpu" and on_cpus["compute"].max_size == 8


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch, tmp_path, sample_paths, e5_encoder):
    import sys

    from semplan.errors import MissingDependency

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(MissingDependency, match=r"pip install 'semplan\[ray\]'"):
        update_index(tmp_path / "index", sample_paths[:1], encoder=e5_encoder, indexer=ray_indexer())
    assert not (tmp_path / "index").exists()
