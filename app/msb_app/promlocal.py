"""``msb run --prometheus``: Debian's Prometheus scraping every stage, with the chart's rules.

It runs as one more child process (a :class:`~msb_app.stages.Stage`), stopped with the others. The
recording and alerting rules are the Helm chart's own PrometheusRule, rendered by Helm's engine
(helm-python-sdk, in the ``dev`` extra) from a source checkout; without them it scrapes only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from msb import paths
from msb_app.stages import Stage

CHART = paths.REPO_ROOT / "charts" / "msb"


def chart_rules(dest: Path) -> tuple[Path | None, str]:
    """The chart's rule groups written to ``dest``, or None and why not."""
    try:
        import helm_python
    except ImportError:
        return None, "no rules: rendering the chart needs helm-python-sdk (pip install -e '.[dev]')"
    if not (CHART / "Chart.yaml").is_file():
        return None, f"no rules: the chart is not at {CHART} (a source checkout has it)"
    rendered = helm_python.Chart.load(str(CHART)).render({}, name="msb", namespace="msb")
    groups = [group for path, text in sorted(rendered.items()) if not path.endswith("NOTES.txt")
              for doc in yaml.safe_load_all(text) if doc and doc.get("kind") == "PrometheusRule"
              for group in doc["spec"]["groups"]]
    dest.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    rules = sum(len(g["rules"]) for g in groups)
    return dest, f"{rules} rules of the chart's PrometheusRule"


def prometheus_stage(out: Path, targets: dict[str, str], port: int) -> tuple[Stage, str, str]:
    """(stage, its URL, what it loaded) for a Prometheus scraping ``targets`` (job -> host:port) every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("--prometheus needs Debian's prometheus (apt-get install prometheus, or make system-deps)")
    work = out / "prometheus"
    work.mkdir(parents=True, exist_ok=True)
    rules, note = chart_rules(work / "rules.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(rules)] if rules else [],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [addr]}]} for job, addr in targets.items()],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    argv = [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
            # Debian's build wants its console files unless told otherwise.
            f"--web.console.templates={work}", f"--web.console.libraries={work}"]
    stage = Stage("prometheus", [], out / "logs" / "prometheus.log", restartable=False, program=argv)
    return stage, f"http://127.0.0.1:{port}", note
